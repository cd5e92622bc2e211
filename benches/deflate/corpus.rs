//! The compression bench's corpus, made from a seed so that every run, and the Node side reading the
//! files [`write`] leaves, compresses the same bytes: JSON chat messages of 100 B to 4 KiB, and one
//! JSON document of about 1 MiB (an array of user records, as a REST API returns a page of them).
//!
//! Realistic for compression means: the same keys in every message, names and rooms from small sets,
//! numbers that look like ids and timestamps, and prose from a vocabulary of a few hundred words. Random
//! bytes would not compress at all and repeated text far too well.

use std::fmt::Write as _;
use std::path::Path;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, good enough for test data, and fixed here, so the
/// corpus cannot change with a dependency's version.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (the modulo bias is irrelevant at these sizes).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The vocabulary of message text: everyday words, some chat shorthand, a few emoji (4-byte UTF-8).
const WORDS: &[&str] = &[
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "this",
    "we",
    "you",
    "i",
    "be",
    "are",
    "was",
    "have",
    "not",
    "but",
    "at",
    "so",
    "if",
    "can",
    "just",
    "will",
    "do",
    "all",
    "our",
    "they",
    "there",
    "what",
    "when",
    "about",
    "from",
    "up",
    "out",
    "now",
    "think",
    "know",
    "see",
    "get",
    "make",
    "need",
    "want",
    "look",
    "going",
    "back",
    "still",
    "today",
    "tomorrow",
    "yesterday",
    "morning",
    "afternoon",
    "tonight",
    "week",
    "meeting",
    "call",
    "sync",
    "standup",
    "review",
    "release",
    "deploy",
    "build",
    "test",
    "tests",
    "branch",
    "merge",
    "commit",
    "issue",
    "ticket",
    "bug",
    "fix",
    "patch",
    "server",
    "client",
    "database",
    "query",
    "cache",
    "latency",
    "memory",
    "disk",
    "network",
    "config",
    "update",
    "version",
    "rollback",
    "logs",
    "metrics",
    "dashboard",
    "alert",
    "incident",
    "customer",
    "team",
    "design",
    "draft",
    "doc",
    "notes",
    "slides",
    "plan",
    "roadmap",
    "budget",
    "deadline",
    "friday",
    "monday",
    "lunch",
    "coffee",
    "weekend",
    "holiday",
    "thanks",
    "sorry",
    "please",
    "great",
    "good",
    "nice",
    "cool",
    "sure",
    "yes",
    "no",
    "maybe",
    "probably",
    "definitely",
    "agreed",
    "done",
    "ready",
    "blocked",
    "waiting",
    "working",
    "looking",
    "checking",
    "running",
    "failing",
    "passing",
    "broken",
    "fixed",
    "slow",
    "fast",
    "again",
    "already",
    "almost",
    "soon",
    "later",
    "first",
    "last",
    "next",
    "new",
    "old",
    "same",
    "other",
    "more",
    "less",
    "some",
    "any",
    "every",
    "one",
    "two",
    "three",
    "few",
    "lot",
    "bit",
    "time",
    "day",
    "hour",
    "minute",
    "thing",
    "idea",
    "question",
    "answer",
    "point",
    "problem",
    "reason",
    "change",
    "changes",
    "part",
    "side",
    "way",
    "people",
    "everyone",
    "someone",
    "nobody",
    "here",
    "where",
    "why",
    "how",
    "which",
    "who",
    "then",
    "than",
    "also",
    "only",
    "really",
    "very",
    "too",
    "should",
    "could",
    "would",
    "might",
    "must",
    "let",
    "me",
    "us",
    "them",
    "my",
    "your",
    "their",
    "its",
    "has",
    "had",
    "did",
    "does",
    "got",
    "said",
    "told",
    "asked",
    "sent",
    "shared",
    "pushed",
    "pulled",
    "opened",
    "closed",
    "moved",
    "started",
    "finished",
    "tried",
    "found",
    "lost",
    "saw",
    "heard",
    "lgtm",
    "ptal",
    "fyi",
    "btw",
    "imo",
    "afaik",
    "tbh",
    "asap",
    "eta",
    "wip",
    "ok",
    "okay",
    "hmm",
    "haha",
    "yeah",
    "nope",
    "👍",
    "🎉",
    "🙏",
    "😅",
];

const USERS: &[&str] = &[
    "ada.lovelace",
    "grace.hopper",
    "li.wei",
    "maria.kowalski",
    "kwame.mensah",
    "sofia.rossi",
    "raj.patel",
    "yuki.tanaka",
    "olga.petrova",
    "diego.fernandez",
    "amara.okafor",
    "lars.nilsson",
    "fatima.zahra",
    "chen.jie",
    "noah.becker",
    "zoë.martin",
    "josé.garcía",
    "ingrid.berg",
    "tomás.silva",
    "aisha.khan",
    "mateo.ruiz",
    "hana.kim",
    "elif.yilmaz",
    "oskar.nowak",
];

const ROOMS: &[&str] = &[
    "general",
    "random",
    "engineering",
    "backend",
    "frontend",
    "incidents",
    "release-train",
    "design-review",
    "support",
    "watercooler",
];

const CITIES: &[&str] = &[
    "Lisbon",
    "Kraków",
    "Accra",
    "Osaka",
    "Toronto",
    "Nairobi",
    "Bergen",
    "Córdoba",
    "Pune",
    "Tallinn",
    "Montréal",
    "Seoul",
    "Istanbul",
    "Porto Alegre",
];

const STREETS: &[&str] = &[
    "Main Street",
    "Harbour Road",
    "Rua Augusta",
    "Ulica Długa",
    "Station Avenue",
    "Mill Lane",
    "Park Row",
    "Calle Mayor",
    "Kings Way",
    "Lake Drive",
];

const TAGS: &[&str] = &[
    "admin",
    "beta",
    "premium",
    "trial",
    "verified",
    "staff",
    "partner",
    "early-adopter",
    "mobile",
    "desktop",
    "api",
    "billing",
];

const REACTIONS: &[&str] = &[
    "thumbsup", "tada", "eyes", "heart", "rocket", "pray", "laughing",
];

const EPOCH_MS: u64 = 1_764_148_443_512;

/// Appends words to `out` until adding the next would pass `limit` bytes of `out` in all, capitalising
/// after a full stop; always at least one word.
fn prose(rng: &mut Rng, out: &mut String, limit: usize) {
    let mut sentence_start = true;
    let mut first = true;
    loop {
        let word = rng.pick(WORDS);
        let end = match rng.below(12) {
            0 => ".",
            1 => ",",
            2 => "?",
            3 if !first => "!",
            _ => "",
        };
        let extra = usize::from(!first) + word.len() + end.len();
        if !first && out.len() + extra > limit {
            return;
        }
        if !first {
            out.push(' ');
        }
        if sentence_start {
            let mut chars = word.chars();
            if let Some(c) = chars.next() {
                out.extend(c.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(word);
        }
        out.push_str(end);
        sentence_start = matches!(end, "." | "?" | "!");
        first = false;
    }
}

/// `count` chat messages, each 100 B to 4 KiB, their target sizes log-uniform over that range (as many
/// between 100 B and 640 B as between 640 B and 4 KiB: chat is mostly short lines, with some long ones
/// and pasted paragraphs). Each is one JSON object on one line.
pub fn chat(seed: u64, count: usize) -> Vec<String> {
    // The text stops up to one word (at most 12 bytes) short of its target: targets start at 112 B.
    const MIN: f64 = 112.0;
    const MAX: f64 = 4096.0;
    let mut rng = Rng::new(seed);
    let mut ts = EPOCH_MS;
    let mut id = 9_000_000u64;
    (0..count)
        .map(|_| {
            let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let target = (MIN * (MAX / MIN).powf(unit)) as usize;
            ts += rng.below(5_000) as u64;
            id += 1 + rng.below(3) as u64;
            let mut m = String::with_capacity(target + 64);
            let user = rng.pick(USERS);
            write!(
                m,
                r#"{{"type":"message","id":{id},"room":"{}","user":"{user}","ts":{ts}"#,
                rng.pick(ROOMS)
            )
            .unwrap();
            // Richer messages carry more metadata, as a chat server's fan-out does.
            if target > 400 && rng.chance(40) {
                write!(m, r#","reply_to":{}"#, id - 1 - rng.below(50) as u64).unwrap();
            }
            if target > 600 && rng.chance(30) {
                m.push_str(r#","mentions":["#);
                for n in 0..1 + rng.below(3) {
                    if n > 0 {
                        m.push(',');
                    }
                    write!(m, r#""{}""#, rng.pick(USERS)).unwrap();
                }
                m.push(']');
            }
            if target > 800 && rng.chance(35) {
                m.push_str(r#","reactions":["#);
                for n in 0..1 + rng.below(3) {
                    if n > 0 {
                        m.push(',');
                    }
                    write!(
                        m,
                        r#"{{"emoji":"{}","count":{}}}"#,
                        rng.pick(REACTIONS),
                        1 + rng.below(9)
                    )
                    .unwrap();
                }
                m.push(']');
            }
            m.push_str(r#","text":""#);
            prose(&mut rng, &mut m, target - 2);
            m.push_str(r#""}"#);
            assert!(
                (100..=4096).contains(&m.len()),
                "chat message of {} bytes",
                m.len()
            );
            m
        })
        .collect()
}

/// A JSON array of user records, as long as fits in `size` bytes.
pub fn document(seed: u64, size: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut doc = String::with_capacity(size);
    let mut record = String::new();
    doc.push('[');
    for id in 1.. {
        record.clear();
        let user = rng.pick(USERS);
        let (month, day) = (1 + rng.below(12), 1 + rng.below(28));
        write!(
            record,
            r#"{{"id":{id},"username":"{user}{id}","email":"{user}@example.com","created_at":"2025-{month:02}-{day:02}T{:02}:{:02}:{:02}Z","active":{},"score":{}.{:02},"#,
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.chance(80),
            rng.below(100),
            rng.below(100),
        )
        .unwrap();
        write!(
            record,
            r#""address":{{"street":"{} {}","city":"{}","postcode":"{:05}"}},"tags":["#,
            1 + rng.below(200),
            rng.pick(STREETS),
            rng.pick(CITIES),
            rng.below(100_000),
        )
        .unwrap();
        for n in 0..rng.below(4) {
            if n > 0 {
                record.push(',');
            }
            write!(record, r#""{}""#, rng.pick(TAGS)).unwrap();
        }
        record.push_str(r#"],"bio":""#);
        let limit = record.len() + 40 + rng.below(200);
        prose(&mut rng, &mut record, limit);
        record.push_str(r#""}"#);
        // One byte for the separator or the closing bracket.
        if doc.len() + record.len() + 1 > size {
            break;
        }
        if id > 1 {
            doc.push(',');
        }
        doc.push_str(&record);
    }
    doc.push(']');
    doc
}

/// Writes the corpus where the Node side reads it: `chat.jsonl` (one message a line: JSON strings
/// escape line breaks, so none occurs inside a message) and `document.json`.
pub fn write(dir: &Path, chat: &[String], document: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut lines = String::new();
    for message in chat {
        lines.push_str(message);
        lines.push('\n');
    }
    std::fs::write(dir.join("chat.jsonl"), lines)?;
    std::fs::write(dir.join("document.json"), document)
}
