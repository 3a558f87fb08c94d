//! events: ctr events sees every change; `crated publish` forwards events.

use std::time::Duration;

use crated_e2e::{Daemon, Events};

/// `ctr events` receives /namespaces/create, /namespaces/update,
/// /namespaces/delete and /content/delete with containerd's payloads, in
/// the namespace they happened in. Needs root.
#[test]
fn events_for_namespace_and_content_changes() {
    let daemon = Daemon::start();
    let events = Events::start(&daemon);

    daemon.ctr(&["namespaces", "create", "ev1", "a=1"]).ok();
    let payload = events.expect("ev1", "/namespaces/create");
    assert!(payload.contains(r#""name":"ev1""#), "{payload}");

    daemon.ctr(&["namespaces", "label", "ev1", "b=2"]).ok();
    let payload = events.expect("ev1", "/namespaces/update");
    assert!(payload.contains(r#""b":"2""#), "{payload}");

    let digest = daemon.ingest("ev1", "r", b"evented\n");
    daemon.ctr(&["-n", "ev1", "content", "rm", &digest]).ok();
    let payload = events.expect("ev1", "/content/delete");
    assert!(payload.contains(&digest), "{payload}");

    daemon.ctr(&["namespaces", "rm", "ev1"]).ok();
    let payload = events.expect("ev1", "/namespaces/delete");
    assert!(payload.contains(r#""name":"ev1""#), "{payload}");

    // Order: create before update before delete.
    let topics: Vec<String> = events
        .events()
        .into_iter()
        .filter(|(ns, topic, _)| ns == "ev1" && topic.starts_with("/namespaces/"))
        .map(|(_, topic, _)| topic)
        .collect();
    assert_eq!(
        topics,
        [
            "/namespaces/create",
            "/namespaces/update",
            "/namespaces/delete"
        ],
        "{}",
        events.stdout()
    );
    events.stop();
}

/// `ctr events <filter>` only receives matching events (containerd's filter
/// syntax on topic and namespace); a malformed filter is InvalidArgument.
/// Needs root.
#[test]
fn events_filters_select_topics() {
    let daemon = Daemon::start();
    let mut filtered =
        daemon.spawn_ctr(&["events", r#"topic=="/namespaces/create",namespace~="^evf""#]);
    // Sync on a matching event: create namespaces until one shows up.
    let mut n = 0;
    let ready = crated_e2e::wait_until(crated_e2e::ctr::EVENT_TIMEOUT, || {
        n += 1;
        daemon
            .ctr(&["namespaces", "create", &format!("evf-sync-{n}")])
            .ok();
        crated_e2e::wait_until(Duration::from_millis(200), || {
            filtered.stdout().contains("evf-sync")
        })
    });
    assert!(
        ready,
        "filtered ctr events saw nothing: {}",
        filtered.stderr()
    );

    daemon.ctr(&["namespaces", "create", "other-ns"]).ok();
    daemon
        .ctr(&["namespaces", "label", "evf-sync-1", "a=b"])
        .ok();
    daemon.ctr(&["namespaces", "create", "evf-last"]).ok();
    assert!(
        filtered.wait_stdout(crated_e2e::ctr::EVENT_TIMEOUT, |s| s.contains("evf-last")),
        "{}",
        filtered.stdout()
    );
    let seen = filtered.stdout();
    assert!(!seen.contains("other-ns"), "unfiltered namespace: {seen}");
    assert!(
        !seen.contains("/namespaces/update"),
        "unfiltered topic: {seen}"
    );
    filtered.kill();

    daemon
        .ctr(&["events", "topic=="])
        .fails()
        .stderr_has("invalid argument")
        .stderr_has("at byte");
}

/// Protobuf-encodes a `google.protobuf.Any` (1: type_url, 2: value).
fn encode_any(type_url: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, bytes) in [(0x0a_u8, type_url.as_bytes()), (0x12, value)] {
        out.push(tag);
        let mut len = bytes.len();
        loop {
            let low = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    out
}

/// `crated publish --topic --namespace` reads a protobuf Any from stdin and
/// forwards it, as shims do: `ctr events` shows it under the topic and
/// namespace given (a type ctr knows is decoded; an unknown one is reported
/// by ctr with its type url). A stdin that is not an Any is refused.
/// Needs root.
#[test]
fn publish_forwards_event_from_stdin() {
    let daemon = Daemon::start();
    let events = Events::start(&daemon);
    // As shims run it: `crated --address <socket> publish ...` (like
    // containerd's, publish takes the address from the flag, not the config).
    let address = daemon.socket().display().to_string();
    let publish = |args: &[&str]| {
        let mut all = vec!["--address", address.as_str(), "publish"];
        all.extend_from_slice(args);
        crated_e2e::Cmd::new(crated_e2e::crated_bin()).args(all)
    };

    // containerd.events.NamespaceCreate { name: "published" }
    let value = [&[0x0a, 9][..], b"published"].concat();
    let any = encode_any("containerd.events.NamespaceCreate", &value);
    publish(&["--topic", "/test/topic", "--namespace", "default"])
        .stdin_bytes(any)
        .run()
        .ok();
    let payload = events.expect("default", "/test/topic");
    assert_eq!(payload, r#"{"name":"published"}"#);

    let any = encode_any("e2e.test/Unknown", b"\x08\x01");
    publish(&["--topic", "/test/other", "--namespace", "pubns"])
        .stdin_bytes(any)
        .run()
        .ok();
    assert!(
        crated_e2e::wait_until(crated_e2e::ctr::EVENT_TIMEOUT, || events
            .stderr()
            .contains("e2e.test/Unknown")),
        "ctr events never reported the unknown event type\n{}",
        events.stderr()
    );

    publish(&["--topic", "/test/topic", "--namespace", "default"])
        .stdin_bytes(b"\xff\xff\xff not protobuf".to_vec())
        .run()
        .fails()
        .stderr_has("google.protobuf.Any");
    publish(&["--topic", "/test/topic", "--namespace", "bad/ns"])
        .stdin_bytes(encode_any("containerd.events.NamespaceCreate", &value))
        .run()
        .fails()
        .stderr_has("invalid argument");
    events.stop();
}

/// Shims forward their events over ttrpc on `<address>.ttrpc`
/// (`containerd.services.events.ttrpc.v1.Events/Forward`): a forwarded
/// envelope reaches `ctr events` with its namespace and topic; one with an
/// invalid namespace or without a timestamp is refused (as containerd
/// does). Needs root.
#[test]
fn ttrpc_forward_reaches_subscribers() {
    use crated_api::ttrpc::protobuf::MessageField;
    use crated_api::ttrpc::protobuf::well_known_types::any::Any;
    use crated_api::ttrpc::protobuf::well_known_types::timestamp::Timestamp;
    use crated_api::ttrpc::shim::event::Envelope;
    use crated_api::ttrpc::shim::events::ForwardRequest;
    use crated_api::ttrpc::shim_sync::{Client, EventsClient};
    use crated_api::ttrpc::ttrpc::context;

    let daemon = Daemon::start();
    let events = Events::start(&daemon);
    let ttrpc_socket = format!("unix://{}.ttrpc", daemon.socket().display());
    let client = EventsClient::new(
        Client::connect(&ttrpc_socket).unwrap_or_else(|e| panic!("connect {ttrpc_socket}: {e}")),
    );
    let request = |namespace: &str, name: &str| {
        let mut any = Any::new();
        any.type_url = "containerd.events.NamespaceCreate".into();
        any.value = [&[0x0a, name.len() as u8][..], name.as_bytes()].concat();
        let mut envelope = Envelope::new();
        envelope.namespace = namespace.into();
        envelope.topic = "/test/forwarded".into();
        envelope.event = MessageField::some(any);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut timestamp = Timestamp::new();
        timestamp.seconds = now.as_secs() as i64;
        timestamp.nanos = now.subsec_nanos() as i32;
        envelope.timestamp = MessageField::some(timestamp);
        let mut request = ForwardRequest::new();
        request.envelope = MessageField::some(envelope);
        request
    };
    let timeout = context::with_timeout(Duration::from_secs(10).as_nanos() as i64);
    client
        .forward(timeout.clone(), &request("shimns", "via-ttrpc"))
        .unwrap_or_else(|e| panic!("forward: {e}"));
    let payload = events.expect("shimns", "/test/forwarded");
    assert_eq!(payload, r#"{"name":"via-ttrpc"}"#);

    let refused = client.forward(timeout, &request("bad/ns", "nope"));
    assert!(
        refused.is_err(),
        "forwarding into namespace bad/ns succeeded"
    );
    events.stop();
}
