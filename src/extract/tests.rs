use super::*;

fn headers_source() -> Source {
    Source::Headers {
        producer: "x-producer-id".into(),
        sequence: "x-seq".into(),
        epoch: "x-producer-epoch".into(),
    }
}

fn from_headers(h: &[(&str, &[u8])]) -> Result<(String, u64, u64), Unaudited> {
    let view = MessageView {
        headers: h,
        key: None,
        payload: None,
    };
    extract(&headers_source(), &view).map(|s| (s.producer.into_owned(), s.seq, s.epoch))
}

#[test]
fn headers_give_producer_sequence_and_epoch() {
    assert_eq!(
        from_headers(&[
            ("x-producer-id", b"p1"),
            ("x-seq", b"17"),
            ("x-producer-epoch", b"3")
        ]),
        Ok(("p1".into(), 17, 3))
    );
    assert_eq!(
        from_headers(&[("x-seq", b"5"), ("x-producer-id", b"p1")]),
        Ok(("p1".into(), 5, 0)),
        "an absent epoch is 0"
    );
}

#[test]
fn every_bad_stamp_has_its_reason() {
    let ok_p: (&str, &[u8]) = ("x-producer-id", b"p");
    type Headers<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(Headers, Unaudited)> = vec![
        (vec![("x-seq", b"1")], Unaudited::MissingProducer),
        (vec![ok_p], Unaudited::MissingSequence),
        (vec![ok_p, ("x-seq", b"abc")], Unaudited::InvalidSequence),
        (vec![ok_p, ("x-seq", b"-1")], Unaudited::InvalidSequence),
        (vec![ok_p, ("x-seq", b"+1")], Unaudited::InvalidSequence),
        (vec![ok_p, ("x-seq", b" 1")], Unaudited::InvalidSequence),
        (vec![ok_p, ("x-seq", b"0")], Unaudited::SequenceOutOfRange),
        (
            vec![ok_p, ("x-seq", b"18446744073709551615")],
            Unaudited::SequenceOutOfRange,
        ),
        (
            vec![ok_p, ("x-seq", b"18446744073709551616")],
            Unaudited::SequenceOutOfRange,
        ),
        (
            vec![ok_p, ("x-seq", b"1"), ("x-producer-epoch", b"x")],
            Unaudited::InvalidEpoch,
        ),
        (
            vec![("x-producer-id", b""), ("x-seq", b"1")],
            Unaudited::InvalidProducer,
        ),
        (
            vec![("x-producer-id", b"\xff\xfe"), ("x-seq", b"1")],
            Unaudited::InvalidProducer,
        ),
        (
            vec![("x-producer-id", b"a\nb"), ("x-seq", b"1")],
            Unaudited::InvalidProducer,
        ),
    ];
    for (h, reason) in cases {
        assert_eq!(from_headers(&h).unwrap_err(), reason, "{h:?}");
    }
    let long = vec![b'p'; 10 * 1024];
    assert_eq!(
        from_headers(&[("x-producer-id", &long), ("x-seq", b"1")]).unwrap_err(),
        Unaudited::InvalidProducer,
        "a 10 KB producer id is counted, not accepted"
    );
    let huge = vec![b'9'; 1 << 20];
    assert_eq!(
        from_headers(&[ok_p, ("x-seq", &huge)]).unwrap_err(),
        Unaudited::SequenceOutOfRange
    );
}

#[test]
fn key_regex_takes_ids_like_the_seed_article() {
    let re = regex::bytes::Regex::new(r"^(?P<producer>.+)-Partition\d+-(?P<seq>\d+)$").unwrap();
    let source = Source::Key(re);
    let view = |key: &'static [u8]| MessageView {
        headers: &NoHeaders,
        key: Some(key),
        payload: None,
    };
    let s = extract(&source, &view(b"ProducerA-Partition0-17")).unwrap();
    assert_eq!((s.producer.as_ref(), s.seq, s.epoch), ("ProducerA", 17, 0));
    assert_eq!(
        extract(&source, &view(b"garbage")).unwrap_err(),
        Unaudited::KeyMismatch
    );
    let no_key = MessageView {
        headers: &NoHeaders,
        key: None,
        payload: None,
    };
    assert_eq!(
        extract(&source, &no_key).unwrap_err(),
        Unaudited::KeyMismatch
    );
}

#[test]
fn json_pointers_read_numbers_or_digit_strings() {
    let source = Source::Json {
        producer: "/meta/producer".into(),
        sequence: "/meta/seq".into(),
        epoch: Some("/meta/epoch".into()),
    };
    let run = |payload: &'static [u8]| {
        extract(
            &source,
            &MessageView {
                headers: &NoHeaders,
                key: None,
                payload: Some(payload),
            },
        )
        .map(|s| (s.producer.into_owned(), s.seq, s.epoch))
    };
    assert_eq!(
        run(br#"{"meta":{"producer":"p","seq":12,"epoch":"2"}}"#),
        Ok(("p".into(), 12, 2))
    );
    assert_eq!(
        run(br#"{"meta":{"producer":"p","seq":"5"}}"#),
        Ok(("p".into(), 5, 0))
    );
    assert_eq!(run(b"not json").unwrap_err(), Unaudited::InvalidJson);
    assert_eq!(
        run(br#"{"meta":{"seq":1}}"#).unwrap_err(),
        Unaudited::MissingProducer
    );
    assert_eq!(
        run(br#"{"meta":{"producer":"p"}}"#).unwrap_err(),
        Unaudited::MissingSequence
    );
    assert_eq!(
        run(br#"{"meta":{"producer":"p","seq":-3}}"#).unwrap_err(),
        Unaudited::InvalidSequence
    );
    assert_eq!(
        run(br#"{"meta":{"producer":"p","seq":0}}"#).unwrap_err(),
        Unaudited::SequenceOutOfRange
    );
    assert_eq!(
        run(br#"{"meta":{"producer":"p","seq":1,"epoch":1.5}}"#).unwrap_err(),
        Unaudited::InvalidEpoch
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(p in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                                   s in proptest::collection::vec(proptest::num::u8::ANY, 0..30),
                                   e in proptest::collection::vec(proptest::num::u8::ANY, 0..30)) {
        let h: [(&str, &[u8]); 3] = [("x-producer-id", &p), ("x-seq", &s), ("x-producer-epoch", &e)];
        let _ = from_headers(&h);
        let re = regex::bytes::Regex::new(r"^(?P<producer>.+)-(?P<seq>\d+)$").unwrap();
        let _ = extract(&Source::Key(re), &MessageView { headers: &NoHeaders, key: Some(&p), payload: None });
        let json = Source::Json { producer: "/p".into(), sequence: "/s".into(), epoch: None };
        let _ = extract(&json, &MessageView { headers: &NoHeaders, key: None, payload: Some(&p) });
    }
}
