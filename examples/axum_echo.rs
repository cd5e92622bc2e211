//! The echo server inside an axum app (to come with the tokio driver).

fn main() {}
