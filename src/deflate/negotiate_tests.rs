//! The negotiation's rules, each on real offers (Chromium, Firefox, Node ws, Autobahn 13.x) and on
//! broken ones; proptests for round trips and for bytes that must never panic.

use super::*;
use crate::handshake::Headers;
use proptest::prelude::*;

fn server(lines: &[&str], settings: &Deflate) -> Option<(DeflateParams, String)> {
    accept_offer(lines.iter().map(|line| line.as_bytes()), settings)
}

/// The response header a server with default settings gives to `lines`, checked to be the same
/// whether the offers come in one line or one line each (RFC 7230 §3.2.2).
fn response_to(lines: &[&str]) -> Option<String> {
    let settings = Deflate::default();
    let answer = server(lines, &settings);
    let joined = lines.join(", ");
    assert_eq!(server(&[&joined], &settings), answer, "{lines:?} joined");
    answer.map(|(_, header)| header)
}

fn in_force(snct: bool, cnct: bool, server_bits: u8, client_bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }
}

fn client(
    offers: Vec<DeflateOffer>,
    lines: &[&str],
) -> Result<Option<DeflateParams>, &'static str> {
    let settings = Deflate::default().offers(offers);
    accept_response(lines.iter().map(|line| line.as_bytes()), &settings)
}

fn offer() -> DeflateOffer {
    DeflateOffer::default().client_max_window_bits(None)
}

// The server, against offers real clients send.

#[test]
fn accepts_chromium_and_node_ws_default_offer() {
    // Chromium, and the `ws` package for Node by default, send the same single offer.
    let settings = Deflate::default();
    let (params, header) =
        server(&["permessage-deflate; client_max_window_bits"], &settings).unwrap();
    assert_eq!(header, "permessage-deflate; client_no_context_takeover");
    assert_eq!(params, in_force(false, true, 15, 15));
}

#[test]
fn accepts_firefox_offer_without_window_parameters() {
    let (params, header) = server(&["permessage-deflate"], &Deflate::default()).unwrap();
    assert_eq!(header, "permessage-deflate; client_no_context_takeover");
    assert_eq!(params, in_force(false, true, 15, 15));
}

#[test]
fn declines_an_offer_that_cannot_limit_the_client_window_when_we_need_it_limited() {
    let settings = Deflate::default().client_max_window_bits(10);
    assert_eq!(server(&["permessage-deflate"], &settings), None);
    let (params, header) = server(
        &["permessage-deflate, permessage-deflate; client_max_window_bits"],
        &settings,
    )
    .unwrap();
    assert_eq!(
        header,
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=10"
    );
    assert_eq!(params.client_max_window_bits, 10);
}

#[test]
fn accepts_autobahn_13_offers() {
    for (offer, response) in [
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9",
        ),
        (
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9, \
             permessage-deflate; client_no_context_takeover, permessage-deflate",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
        ),
    ] {
        assert_eq!(response_to(&[offer]).as_deref(), Some(response), "{offer}");
    }
}

#[test]
fn reads_offers_through_headers_all() {
    let mut headers = Headers::default();
    headers.push("Sec-WebSocket-Extensions", "foo");
    headers.push(
        "sec-websocket-extensions",
        "permessage-deflate; server_max_window_bits=12",
    );
    let (params, _) =
        accept_offer(headers.all("Sec-WebSocket-Extensions"), &Deflate::default()).unwrap();
    assert_eq!(params.server_max_window_bits, 12);
}

// The server's decline list (RFC 7692 §7), each followed by a good offer it must fall back to.

#[test]
fn declines_offers_with_bad_parameters_and_takes_the_next() {
    for bad in [
        // Duplicates.
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10",
        // Unknown parameters.
        "permessage-deflate; foo",
        "permessage-deflate; x_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; mux",
        // A value where none is allowed.
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"true\"",
        // Missing or invalid window sizes.
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; server_max_window_bits=-9",
        "permessage-deflate; server_max_window_bits=256",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=09",
    ] {
        assert_eq!(response_to(&[bad]), None, "{bad}");
        let answer = response_to(&[bad, "permessage-deflate; server_max_window_bits=11"]);
        assert_eq!(
            answer.as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=11"),
            "{bad}"
        );
    }
}

#[test]
fn reads_quoted_values_and_case_insensitive_names() {
    for offer in [
        "permessage-deflate; server_max_window_bits=\"10\"",
        "permessage-deflate; server_max_window_bits=\"1\\0\"",
        "Permessage-Deflate; Server_Max_Window_Bits=10",
        "permessage-deflate ;server_max_window_bits = 10 ",
        "permessage-deflate;\tserver_max_window_bits=10",
    ] {
        assert_eq!(
            response_to(&[offer]).as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
            "{offer}"
        );
    }
    for malformed in [
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate; server_max_window_bits=\"\"",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; server_max_window_bits=\"1\\ 0\"",
        "permessage-deflate; server_max_window_bits=\"10\"x",
    ] {
        assert_eq!(response_to(&[malformed]), None, "{malformed}");
    }
}

#[test]
fn skips_other_extensions_and_empty_elements() {
    for lines in [
        &["x-webkit-deflate-frame, foo; bar=\"baz\", permessage-deflate"][..],
        &[
            "x-webkit-deflate-frame",
            "foo; bar=1; baz",
            "permessage-deflate",
        ],
        &[", ,permessage-deflate,"],
        &["", "  ", "permessage-deflate"],
    ] {
        assert_eq!(
            response_to(lines).as_deref(),
            Some("permessage-deflate; client_no_context_takeover"),
            "{lines:?}"
        );
    }
    assert_eq!(response_to(&["x-webkit-deflate-frame, foo"]), None);
    assert_eq!(response_to(&[]), None);
}

#[test]
fn declines_a_malformed_element_and_resumes_after_its_comma() {
    let good = "permessage-deflate; server_max_window_bits=12";
    let answer = "permessage-deflate; client_no_context_takeover; server_max_window_bits=12";
    for broken in [
        "@@@",
        "; permessage-deflate",
        "permessage-deflate;",
        "permessage-deflate; ; server_no_context_takeover",
        "permessage-deflate; =10",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate server_no_context_takeover",
        "permessage-deflate; foo=\"a,b\" c",
        "permessage-deflate\u{0}",
        "perméssage-deflate",
    ] {
        let line = format!("{broken}, {good}");
        assert_eq!(response_to(&[&line]).as_deref(), Some(answer), "{line}");
    }
    // A quote left open takes the rest of its line, and only its line.
    let open = format!("permessage-deflate; foo=\"x, {good}");
    assert_eq!(response_to(&[&open]), None);
    let settings = Deflate::default();
    let (_, header) = server(&[&open, good], &settings).unwrap();
    assert_eq!(header, answer);
    // Bytes that are not text at all.
    let garbage: &[u8] = b"\xff\xfe\x00permessage-deflate\x80, permessage-deflate";
    let (_, header) = accept_offer([garbage], &settings).unwrap();
    assert_eq!(header, "permessage-deflate; client_no_context_takeover");
}

// The server's response under its settings.

#[test]
fn answers_with_our_limits_asked_or_not() {
    let ours = Deflate::default()
        .server_no_context_takeover(true)
        .client_no_context_takeover(false)
        .server_max_window_bits(10)
        .client_max_window_bits(11);
    for (offer, response, expected) in [
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=11",
            in_force(true, false, 10, 11),
        ),
        (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=9",
            in_force(true, false, 10, 9),
        ),
        (
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; \
             client_max_window_bits=15",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=8; client_max_window_bits=11",
            in_force(true, true, 8, 11),
        ),
    ] {
        assert_eq!(
            server(&[offer], &ours),
            Some((expected, response.to_owned())),
            "{offer}"
        );
    }
}

#[test]
fn echoes_the_window_a_client_promised_and_leaves_out_unlimited_ones() {
    let open = Deflate::default().client_no_context_takeover(false);
    for (offer, response, expected) in [
        (
            "permessage-deflate",
            "permessage-deflate",
            in_force(false, false, 15, 15),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
            in_force(false, false, 15, 15),
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            "permessage-deflate; client_max_window_bits=12",
            in_force(false, false, 15, 12),
        ),
        (
            "permessage-deflate; client_max_window_bits=15",
            "permessage-deflate; client_max_window_bits=15",
            in_force(false, false, 15, 15),
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            "permessage-deflate; server_max_window_bits=15",
            in_force(false, false, 15, 15),
        ),
    ] {
        assert_eq!(
            server(&[offer], &open),
            Some((expected, response.to_owned())),
            "{offer}"
        );
    }
}

#[test]
fn accepts_an_8_bit_server_window() {
    // zlib cannot compress raw deflate in 256 bytes; the codec then sends uncompressed messages.
    let (params, header) = server(
        &["permessage-deflate; server_max_window_bits=8"],
        &Deflate::default(),
    )
    .unwrap();
    assert_eq!(params.server_max_window_bits, 8);
    assert!(header.ends_with("; server_max_window_bits=8"), "{header}");
}

#[test]
fn clamps_our_own_window_settings() {
    let small = Deflate::default()
        .server_max_window_bits(3)
        .client_max_window_bits(0);
    let (params, header) = server(&["permessage-deflate; client_max_window_bits"], &small).unwrap();
    assert_eq!(
        header,
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; \
         client_max_window_bits=8"
    );
    assert_eq!(
        (params.server_max_window_bits, params.client_max_window_bits),
        (8, 8)
    );
    let large = Deflate::default()
        .server_max_window_bits(200)
        .client_max_window_bits(16);
    let (_, header) = server(&["permessage-deflate"], &large).unwrap();
    assert_eq!(header, "permessage-deflate; client_no_context_takeover");
}

// The client's offer.

#[test]
fn offers_like_a_browser_by_default() {
    assert_eq!(
        offer_header(&Deflate::default()).as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    assert_eq!(offer_header(&Deflate::default().offers(vec![])), None);
}

#[test]
fn offers_several_in_order_with_every_parameter() {
    let settings = Deflate::default().offers(vec![
        DeflateOffer::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(10)
            .client_max_window_bits(Some(Some(12))),
        offer(),
        DeflateOffer::default()
            .server_max_window_bits(4)
            .client_max_window_bits(Some(Some(99))),
    ]);
    assert_eq!(
        offer_header(&settings).as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12, permessage-deflate, \
             permessage-deflate; server_max_window_bits=8; client_max_window_bits=15"
        )
    );
}

// The client's checks on the response.

#[test]
fn no_extension_in_the_response_means_none_in_force() {
    assert_eq!(client(vec![DeflateOffer::default()], &[]), Ok(None));
    assert_eq!(
        client(vec![DeflateOffer::default()], &["", " , "]),
        Ok(None)
    );
}

#[test]
fn accepts_parameters_the_server_may_add_unasked() {
    let plain = || vec![DeflateOffer::default()];
    assert_eq!(
        client(plain(), &["permessage-deflate"]),
        Ok(Some(in_force(false, false, 15, 15)))
    );
    assert_eq!(
        client(
            plain(),
            &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"]
        ),
        Ok(Some(in_force(true, true, 15, 15)))
    );
    assert_eq!(
        client(plain(), &["permessage-deflate; server_max_window_bits=8"]),
        Ok(Some(in_force(false, false, 8, 15)))
    );
    assert_eq!(
        client(plain(), &["permessage-deflate; client_max_window_bits=9"]),
        Ok(Some(in_force(false, false, 15, 9)))
    );
    assert_eq!(
        client(
            plain(),
            &["Permessage-Deflate; Client_Max_Window_Bits=\"10\""]
        ),
        Ok(Some(in_force(false, false, 15, 10)))
    );
}

#[test]
fn keeps_the_promises_of_the_offer() {
    let promised = DeflateOffer::default()
        .client_no_context_takeover(true)
        .client_max_window_bits(Some(Some(12)));
    assert_eq!(
        client(vec![promised], &["permessage-deflate"]),
        Ok(Some(in_force(false, true, 15, 12)))
    );
    assert_eq!(
        client(
            vec![promised],
            &["permessage-deflate; client_max_window_bits=10"]
        ),
        Ok(Some(in_force(false, true, 15, 10)))
    );
}

#[test]
fn fails_on_what_rfc_7692_section_7_lists() {
    let asked = DeflateOffer::default()
        .server_no_context_takeover(true)
        .server_max_window_bits(10)
        .client_max_window_bits(Some(Some(12)));
    let cases: &[(DeflateOffer, &[&str], &str)] = &[
        (asked, &["x-webkit-deflate-frame"], NOT_OFFERED),
        (asked, &["permessage-deflate, foo"], NOT_OFFERED),
        (asked, &["foo, permessage-deflate"], NOT_OFFERED),
        (
            asked,
            &["permessage-deflate", "permessage-deflate"],
            "the server accepted permessage-deflate twice",
        ),
        (
            asked,
            &["permessage-deflate, permessage-deflate"],
            "the server accepted permessage-deflate twice",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; mux"],
            "unknown permessage-deflate parameter",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            "duplicate permessage-deflate parameter",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover=1"],
            "a no_context_takeover parameter has a value",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=010"],
            "server_max_window_bits must be 8 to 15",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits"],
            "server_max_window_bits must be 8 to 15",
        ),
        (
            asked,
            &[
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
               client_max_window_bits",
            ],
            "client_max_window_bits must be 8 to 15",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=\"1 0\""],
            "malformed Sec-WebSocket-Extensions",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover;"],
            "malformed Sec-WebSocket-Extensions",
        ),
        (asked, &["\u{7f}"], "malformed Sec-WebSocket-Extensions"),
        (
            asked,
            &["permessage-deflate; server_max_window_bits=10"],
            "the server did not accept server_no_context_takeover",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover"],
            "the server did not accept server_max_window_bits",
        ),
        (
            asked,
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"],
            "server_max_window_bits is larger than offered",
        ),
        (
            asked,
            &[
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; \
               client_max_window_bits=13",
            ],
            "client_max_window_bits is larger than offered",
        ),
        (
            offer(),
            &["permessage-deflate; client_max_window_bits=15"],
            "client_max_window_bits was not offered",
        ),
        (
            offer(),
            &["permessage-deflate; server_max_window_bits=16"],
            "server_max_window_bits must be 8 to 15",
        ),
    ];
    for (offer, lines, reason) in cases {
        assert_eq!(client(vec![*offer], lines), Err(*reason), "{lines:?}");
    }
    let nothing_offered = Deflate::default().offers(vec![]);
    assert_eq!(
        accept_response([&b"permessage-deflate"[..]], &nothing_offered),
        Err(NOT_OFFERED)
    );
}

#[test]
fn accepts_a_response_that_one_of_several_offers_allows() {
    let offers = || {
        vec![
            DeflateOffer::default()
                .server_no_context_takeover(true)
                .server_max_window_bits(10),
            offer(),
        ]
    };
    // Only the second offer allows each of these.
    assert_eq!(
        client(offers(), &["permessage-deflate"]),
        Ok(Some(in_force(false, false, 15, 15)))
    );
    assert_eq!(
        client(offers(), &["permessage-deflate; server_max_window_bits=12"]),
        Ok(Some(in_force(false, false, 12, 15)))
    );
    // Neither allows this: the first offer's reason is given.
    assert_eq!(
        client(offers(), &["permessage-deflate; client_max_window_bits=10"]),
        Err("the server did not accept server_no_context_takeover")
    );
    // Every offer asked for server_no_context_takeover.
    let both = vec![
        offer().server_no_context_takeover(true),
        DeflateOffer::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(9),
    ];
    assert_eq!(
        client(both, &["permessage-deflate; server_max_window_bits=9"]),
        Err("the server did not accept server_no_context_takeover")
    );
}

#[test]
fn compresses_by_the_strictest_offer_the_response_may_answer() {
    let offers = vec![
        DeflateOffer::default().client_max_window_bits(Some(Some(10))),
        offer().client_no_context_takeover(true),
        DeflateOffer::default().server_max_window_bits(9),
    ];
    // The third offer asked for a server window the response does not give: it is not the answer.
    assert_eq!(
        client(offers.clone(), &["permessage-deflate"]),
        Ok(Some(in_force(false, true, 15, 10)))
    );
    assert_eq!(
        client(offers, &["permessage-deflate; client_max_window_bits=12"]),
        Err("client_max_window_bits is larger than offered")
    );
}

// Properties.

fn any_offer() -> impl Strategy<Value = DeflateOffer> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(0u8..20),
        proptest::option::of(proptest::option::of(0u8..20)),
    )
        .prop_map(|(snct, cnct, server_bits, client_bits)| DeflateOffer {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        })
}

fn any_settings() -> impl Strategy<Value = Deflate> {
    (
        proptest::collection::vec(any_offer(), 0..4),
        0u8..20,
        0u8..20,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(offers, server_bits, client_bits, snct, cnct)| {
            Deflate::default()
                .offers(offers)
                .server_max_window_bits(server_bits)
                .client_max_window_bits(client_bits)
                .server_no_context_takeover(snct)
                .client_no_context_takeover(cnct)
        })
}

/// Header-ish bytes: the pieces of the grammar and a few that break it.
fn headerish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "permessage-deflate",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "foo",
        "10",
        "8",
        "=",
        ";",
        ",",
        " ",
        "\"",
        "\\",
        "\u{0}",
        "é",
    ]);
    proptest::collection::vec(pieces, 0..24).prop_map(|pieces| pieces.concat().into_bytes())
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(
        lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..4),
        near in proptest::collection::vec(headerish(), 0..4),
        settings in any_settings(),
    ) {
        for lines in [&lines, &near] {
            let lines = lines.iter().map(Vec::as_slice);
            if let Some((params, header)) = accept_offer(lines.clone(), &settings) {
                prop_assert!((8..=15).contains(&params.server_max_window_bits));
                prop_assert!((8..=15).contains(&params.client_max_window_bits));
                prop_assert!(header.starts_with("permessage-deflate"));
            }
            let _ = accept_response(lines, &settings);
        }
    }

    #[test]
    fn the_server_reads_back_what_the_client_offers(settings in any_settings()) {
        let header = offer_header(&settings);
        prop_assert_eq!(header.is_none(), settings.offers.is_empty());
        let header = header.unwrap_or_default();
        let read: Vec<_> = Elements::new(header.as_bytes())
            .map(|element| read_params(&element.unwrap(), Side::Offer).unwrap())
            .collect();
        let sent: Vec<_> = settings.offers.iter().map(clamped).collect();
        prop_assert_eq!(read, sent);
        // A server that needs no smaller client window than 15 accepts any offer we make.
        let open = Deflate { client_max_window_bits: 15, ..settings.clone() };
        prop_assert_eq!(
            accept_offer([header.as_bytes()], &open).is_some(),
            !settings.offers.is_empty()
        );
    }

    #[test]
    fn the_client_accepts_what_the_server_answers(client in any_settings(), server in any_settings()) {
        let header = offer_header(&client).unwrap_or_default();
        let Some((ours, response)) = accept_offer([header.as_bytes()], &server) else {
            // Declined only when no offer lets the server limit the client window it needs limited.
            prop_assert!(client.offers.iter().all(|offer| offer.client_max_window_bits.is_none()));
            prop_assert!(clamp_bits(server.client_max_window_bits) < 15 || client.offers.is_empty());
            return Ok(());
        };
        let theirs = accept_response([response.as_bytes()], &client);
        let Ok(Some(theirs)) = theirs else {
            return Err(TestCaseError::fail(format!("{response:?} refused: {theirs:?}")));
        };
        // What the server does is known exactly; the client is at least as strict with its own
        // compression as the server expects, and exactly as strict when it made one offer.
        prop_assert_eq!(theirs.server_no_context_takeover, ours.server_no_context_takeover);
        prop_assert_eq!(theirs.server_max_window_bits, ours.server_max_window_bits);
        prop_assert!(theirs.client_no_context_takeover >= ours.client_no_context_takeover);
        prop_assert!(theirs.client_max_window_bits <= ours.client_max_window_bits);
        if client.offers.len() == 1 {
            prop_assert_eq!(theirs, ours);
        }
    }
}
