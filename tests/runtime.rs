//! The walker runtime against real compiled components: the example walkers, hostile
//! walkers, hot reload through the file watcher, and the compiled-code cache.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use support::{RunFailure, chat_wasm, fixture, new_runtime, public_caller, reports, run_json};
use walker_host::catalog::CallError;
use walker_host::reload;
use walker_host::runtime::{EntryType, LimitHit, Method, Origin, ReplyBody, RunErrorKind};

#[tokio::test]
async fn example_walkers_declare_the_jac_cloud_specs() {
    let (runtime, _cache) = new_runtime();
    let component = runtime.load(std::fs::read(chat_wasm()).unwrap()).await.unwrap();
    let mut names: Vec<&str> = component.walkers.iter().map(|w| w.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "boom",
            "counter",
            "custom_report",
            "custom_status",
            "delete_item",
            "documented",
            "fail_after_write",
            "get_q",
            "internal",
            "list_items",
            "list_notes",
            "make_item",
            "make_note",
            "my_account",
            "no_specs_default",
            "path_rel",
            "path_var",
            "place_order",
            "public_client",
            "public_event",
            "public_group",
            "public_user",
            "rename_item",
            "report_context",
            "self_notif",
            "send_chat_to_client",
            "send_chat_to_group",
            "send_chat_to_user",
            "under_walker",
            "undocumented",
            "whoami",
            "whoami_pub",
            "ws_item",
            "your_event_name",
        ]
    );
    let spec = |name: &str| component.walkers.iter().find(|w| w.name == name).unwrap();

    let seed = spec("your_event_name");
    assert_eq!(seed.methods, [Method::Websocket]);
    assert!(seed.auth);
    assert_eq!(seed.fields.len(), 1);
    assert_eq!(seed.fields[0].name, "val");
    assert!(seed.fields[0].default.is_none());

    let default = spec("no_specs_default");
    assert_eq!(default.methods, [Method::Post]);
    assert!(default.auth);

    let get_q = spec("get_q");
    assert_eq!(get_q.methods, [Method::Get, Method::Post]);
    assert_eq!(get_q.as_query, ["a"]);
    assert!(!get_q.auth);
    assert_eq!(get_q.fields[1].default, Some(json!("x")));

    assert_eq!(spec("path_var").path.as_deref(), Some("/custom/{key}"));
    assert_eq!(spec("path_rel").path.as_deref(), Some("/walker/path_rel/{key}"), "relative, under its name");
    assert_eq!(spec("make_item").entry, EntryType::Both);
    assert_eq!(spec("list_items").entry, EntryType::Root);
    assert_eq!(spec("rename_item").entry, EntryType::Node);
    assert_eq!(spec("public_group").fields[1].default, Some(json!("hi")));
}

#[tokio::test]
async fn example_walkers_run_report_and_notify() {
    let (runtime, cache) = new_runtime();
    let catalog = support::catalog(runtime, cache.path());
    catalog.load_file(&chat_wasm()).await.unwrap();
    let caller = public_caller(Some("1:abc"));

    let (reply, _) = run_json(&catalog, "public_event", &caller, json!({"val": 5})).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reports(&reply), [json!({"val": 5})]);

    // Numbers as strings are accepted, as pydantic's lax mode does.
    let (reply, _) = run_json(&catalog, "public_event", &caller, json!({"val": "12"})).await.unwrap();
    assert_eq!(reports(&reply), [json!({"val": 12})]);

    let (reply, sent) = run_json(&catalog, "self_notif", &caller, json!({})).await.unwrap();
    assert_eq!(reports(&reply), [json!("step 1"), json!("step 2")]);
    assert_eq!(
        sent,
        [
            ("clients".to_string(), vec!["1:abc".to_string()], json!({"progress": "0%"})),
            ("clients".to_string(), vec!["1:abc".to_string()], json!({"progress": "100%"})),
        ]
    );

    let (_, sent) = run_json(&catalog, "send_chat_to_user", &caller, json!({"root_id": "n::0123"})).await.unwrap();
    let chat = json!({"type": "chat", "data": {"message": "string"}});
    assert_eq!(sent, [("users".to_string(), vec!["n::0123".to_string()], chat.clone())]);
    let (_, sent) = run_json(&catalog, "public_group", &caller, json!({"channel_id": "room"})).await.unwrap();
    assert_eq!(
        sent,
        [("channels".to_string(), vec!["room".to_string()], json!({"type": "chat", "data": {"message": "hi"}}))]
    );

    let (reply, _) = run_json(&catalog, "custom_status", &caller, json!({})).await.unwrap();
    assert_eq!((reply.status, reports(&reply)), (201, vec![json!("created")]));

    let (reply, _) = run_json(&catalog, "custom_report", &caller, json!({})).await.unwrap();
    match &reply.body {
        ReplyBody::Custom(value) => assert_eq!(value.get(), r#"{"custom":true,"list":[1,2]}"#),
        other => panic!("expected a custom report, got {other:?}"),
    }

    let (reply, _) = run_json(&catalog, "whoami_pub", &caller, json!({})).await.unwrap();
    assert_eq!(reports(&reply), [json!({"id": "n::000000000000000000000001", "context": {}})]);

    match run_json(&catalog, "boom", &caller, json!({})).await {
        Err(RunFailure::Call(CallError::Run(err))) => {
            assert_eq!(err.kind, RunErrorKind::Failed("division by zero".into()));
            assert_eq!(err.kind_name(), "walker_error");
        }
        other => panic!("boom should fail, got {other:?}"),
    }

    match run_json(&catalog, "public_event", &caller, json!({"other": 1})).await {
        Err(RunFailure::Call(CallError::Invalid(errors))) => {
            assert_eq!(
                serde_json::to_value(&errors).unwrap(),
                json!([{"type": "missing", "loc": ["val"], "msg": "Field required", "input": {"other": 1}}])
            )
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    match run_json(&catalog, "public_event", &caller, json!({"val": "x"})).await {
        Err(RunFailure::Call(CallError::Invalid(errors))) => assert_eq!(errors[0].kind, "int_parsing"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert!(matches!(run_json(&catalog, "nope", &caller, json!({})).await, Err(RunFailure::UnknownWalker)));
}

#[tokio::test]
async fn hostile_walkers_are_stopped_with_the_limit_they_hit() {
    let (runtime, cache) = new_runtime();
    let limits = runtime.limits().clone();
    let catalog = Arc::new(support::catalog(runtime, cache.path()));
    catalog.load_file(&fixture("hostile.wasm")).await.unwrap();
    let caller = public_caller(Some("1:abc"));

    // A well-behaved walker keeps answering while the hostile ones run.
    let keep_serving = {
        let catalog = catalog.clone();
        let caller = caller.clone();
        tokio::spawn(async move {
            let mut served = 0;
            for i in 0..200 {
                let (reply, _) = run_json(&catalog, "echo", &caller, json!({"value": i})).await.unwrap();
                assert_eq!(reports(&reply), [json!(i)]);
                served += 1;
            }
            served
        })
    };

    let expect_limit = |name: &str, result, limit: LimitHit| match result {
        Err(RunFailure::Call(CallError::Run(err))) => {
            assert_eq!(err.kind, RunErrorKind::Limit(limit), "{name}");
            assert!(err.to_string().contains(name), "the error names the walker: {err}");
        }
        other => panic!("{name} should hit {limit}, got {other:?}"),
    };

    let started = std::time::Instant::now();
    expect_limit("spin", run_json(&catalog, "spin", &caller, json!({})).await, LimitHit::Time(limits.run_time));
    assert!(started.elapsed() < limits.run_time * 3, "the loop was stopped near its deadline");

    expect_limit(
        "memory_bomb",
        run_json(&catalog, "memory_bomb", &caller, json!({})).await,
        LimitHit::Memory(limits.memory_bytes),
    );
    // Within the limit, the same walker succeeds: the cap is on memory, not on the walker.
    let (reply, _) = run_json(&catalog, "memory_bomb", &caller, json!({"mib": 4})).await.unwrap();
    assert_eq!(reports(&reply), [json!(4 << 20)]);

    let flood = run_json(&catalog, "flood", &caller, json!({"channel_id": "c"})).await;
    expect_limit("flood", flood, LimitHit::Notifications(limits.notifications));
    let (_, sent) = run_json(&catalog, "flood", &caller, json!({"channel_id": "c", "count": 3})).await.unwrap();
    let flood = |i: u32| ("channels".to_string(), vec!["c".to_string()], json!({"flood": i}));
    assert_eq!(sent, [flood(0), flood(1), flood(2)]);

    // One notification: up to its size limit, not a byte more.
    let bytes = limits.notification_bytes;
    let (_, sent) = run_json(&catalog, "self_flood", &caller, json!({"count": 1, "bytes": bytes})).await.unwrap();
    assert_eq!(sent[0].2.as_str().map(|text| text.len() + 2), Some(bytes));
    let oversize = run_json(&catalog, "self_flood", &caller, json!({"count": 1, "bytes": bytes + 1})).await;
    expect_limit("self_flood", oversize, LimitHit::NotificationSize(bytes));

    expect_limit(
        "huge_report",
        run_json(&catalog, "huge_report", &caller, json!({"mib": 2})).await,
        LimitHit::ReportSize(limits.report_bytes),
    );
    let custom = json!({"bytes": limits.report_bytes + 1, "custom": true});
    expect_limit(
        "sized_report",
        run_json(&catalog, "sized_report", &caller, custom).await,
        LimitHit::ReportSize(limits.report_bytes),
    );
    let (reply, _) = run_json(&catalog, "sized_report", &caller, json!({"bytes": limits.report_bytes, "custom": true}))
        .await
        .unwrap();
    assert!(matches!(&reply.body, ReplyBody::Custom(text) if text.get().len() == limits.report_bytes));

    match run_json(&catalog, "not_json", &caller, json!({})).await {
        Err(RunFailure::Call(CallError::Run(err))) => {
            assert_eq!(err.kind, RunErrorKind::InvalidOutput("a notification that is not JSON".into()));
            assert_eq!(err.to_string(), "walker not_json returned a notification that is not JSON");
        }
        other => panic!("not_json should be refused, got {other:?}"),
    }

    match run_json(&catalog, "panic", &caller, json!({})).await {
        Err(RunFailure::Call(CallError::Run(err))) => {
            assert!(matches!(err.kind, RunErrorKind::Trapped(_)), "{err}");
            assert!(!err.to_string().contains('/'), "no paths or backtraces: {err}");
        }
        other => panic!("panic should trap, got {other:?}"),
    }

    assert_eq!(keep_serving.await.unwrap(), 200);
}

#[tokio::test]
async fn components_reaching_for_files_sockets_or_http_are_refused() {
    let (runtime, _cache) = new_runtime();
    for (file, import) in [
        ("forbidden.wasm", "wasi:filesystem/"),
        ("forbidden-sockets.wasm", "wasi:sockets/"),
        ("forbidden-http.wasm", "wasi:http/"),
    ] {
        let err = runtime.load(std::fs::read(fixture(file)).unwrap()).await.err().expect("refused");
        let err = err.to_string();
        assert!(
            err.contains(&format!("imports `{import}")) && err.contains("which walkers may not use"),
            "{file}: {err}"
        );
    }
}

#[tokio::test]
async fn a_component_declaring_a_huge_name_many_times_is_refused_under_the_default_limits() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = support::runtime_with_limits(walker_host::runtime::Limits::default(), cache.path());
    let err = runtime.load(std::fs::read(fixture("hostile-declare.wasm")).unwrap()).await.err().expect("refused");
    assert!(err.to_string().contains("bytes of names, schemas and documentation"), "{err}");
    // The host lives on and loads the next component.
    runtime.load(std::fs::read(fixture("hostile.wasm")).unwrap()).await.unwrap();
}

/// Collects the log lines written on this thread while it lives.
struct LogCapture {
    lines: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    fn start() -> Self {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let lines = lines.clone();
            move || LogWriter(lines.clone())
        };
        let subscriber = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).finish();
        LogCapture { lines, _guard: tracing::subscriber::set_default(subscriber) }
    }

    fn walker_lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.lines.lock().unwrap().clone()).unwrap();
        text.lines().filter(|line| line.contains(" walker: ")).map(str::to_string).collect()
    }
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn walker_logs_are_capped_per_run_and_per_line() {
    let (runtime, cache) = new_runtime();
    let catalog = support::catalog(runtime, cache.path());
    catalog.load_file(&fixture("hostile.wasm")).await.unwrap();
    let capture = LogCapture::start();
    run_json(&catalog, "chatty", &public_caller(None), json!({"lines": 150, "bytes": 5000})).await.unwrap();
    let lines = capture.walker_lines();
    assert_eq!(lines.len(), 100, "100 lines per run");
    assert!(lines[0].contains("line 0 ") && lines[99].contains("line 99 "), "the first ones, in order");
    for line in &lines {
        let message = &line[line.find("line ").unwrap()..line.rfind(" walker=").unwrap()];
        assert_eq!(message.len(), 1024, "each cut at 1 KiB");
    }
    // The cap is per run: the next run logs again.
    run_json(&catalog, "chatty", &public_caller(None), json!({"lines": 1})).await.unwrap();
    assert_eq!(capture.walker_lines().len(), 101);
}

#[tokio::test]
async fn corrupt_files_are_refused() {
    let (runtime, _cache) = new_runtime();
    assert!(runtime.load(b"\0asm not really".to_vec()).await.is_err());
    assert!(runtime.load(Vec::new()).await.is_err());
}

#[tokio::test]
async fn a_restart_with_unchanged_walkers_does_not_recompile() {
    let (runtime, cache) = new_runtime();
    let wasm = std::fs::read(chat_wasm()).unwrap();
    assert_eq!(runtime.load(wasm.clone()).await.unwrap().origin, Origin::Compiled);
    drop(runtime);

    let restarted = support::runtime_with_cache(cache.path());
    let component = restarted.load(wasm).await.unwrap();
    assert_eq!(component.origin, Origin::Cached);
    let catalog = support::catalog(restarted, cache.path());
    catalog.load_file(&chat_wasm()).await.unwrap();
    let (reply, _) = run_json(&catalog, "public_event", &public_caller(None), json!({"val": 1})).await.unwrap();
    assert_eq!(reports(&reply), [json!({"val": 1})]);
}

#[tokio::test]
async fn hot_reload_follows_the_walkers_directory() {
    let (runtime, cache) = new_runtime();
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(support::catalog(runtime, cache.path()));
    let _watcher = reload::watch_and_load(catalog.clone(), dir.path(), Duration::from_millis(30)).await.unwrap();
    let caller = public_caller(None);
    let version = || async { support::version(&catalog, &caller).await };

    assert_eq!(version().await, None);

    support::deploy(&fixture("version-v1.wasm"), &dir.path().join("version.wasm"));
    support::wait_until(&catalog, || async { version().await == Some(1) }).await;

    support::deploy(&fixture("version-v2.wasm"), &dir.path().join("version.wasm"));
    support::wait_until(&catalog, || async { version().await == Some(2) }).await;

    // A corrupt replacement is tried, refused, and version 2 keeps serving.
    assert_eq!(catalog.failed_loads(), 0);
    support::deploy_bytes(b"this is not wasm", &dir.path().join("version.wasm"));
    support::wait_until(&catalog, || async { catalog.failed_loads() == 1 }).await;
    assert_eq!(version().await, Some(2));
    support::deploy(&fixture("version-v1.wasm"), &dir.path().join("marker.wasm"));
    support::wait_until(&catalog, || async { catalog.snapshot().files().eq(["marker.wasm", "version.wasm"]) }).await;

    // Dotfiles and temporary files are ignored.
    std::fs::copy(fixture("version-v1.wasm"), dir.path().join(".hidden.wasm")).unwrap();
    std::fs::copy(fixture("version-v1.wasm"), dir.path().join("version.wasm.tmp")).unwrap();

    // Two files with the same walker: the earlier keeps it; removing it hands it over.
    std::fs::remove_file(dir.path().join("version.wasm")).unwrap();
    support::wait_until(&catalog, || async { version().await == Some(1) }).await; // marker.wasm takes over
    support::deploy(&fixture("version-v2.wasm"), &dir.path().join("another.wasm"));
    support::wait_until(&catalog, || async { catalog.snapshot().files().eq(["another.wasm", "marker.wasm"]) }).await;
    assert_eq!(version().await, Some(1), "marker.wasm was loaded first and keeps the name");

    std::fs::remove_file(dir.path().join("marker.wasm")).unwrap();
    support::wait_until(&catalog, || async { version().await == Some(2) }).await;
    std::fs::remove_file(dir.path().join("another.wasm")).unwrap();
    support::wait_until(&catalog, || async { version().await.is_none() }).await;

    // Loading reads files; those reads must not look like changes and reload forever.
    support::deploy(&fixture("version-v1.wasm"), &dir.path().join("version.wasm"));
    support::wait_until(&catalog, || async { version().await == Some(1) }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = *catalog.subscribe().borrow();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*catalog.subscribe().borrow(), settled, "no reloads without changes");
}

#[tokio::test]
async fn calls_never_fail_during_fifty_swaps() {
    let (runtime, cache) = new_runtime();
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(support::catalog(runtime, cache.path()));
    support::deploy(&fixture("version-v1.wasm"), &dir.path().join("version.wasm"));
    let _watcher = reload::watch_and_load(catalog.clone(), dir.path(), Duration::from_millis(10)).await.unwrap();
    // The first load runs in the background.
    support::wait_until(&catalog, || async { catalog.readiness().ready }).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (catalog, stop, seen) = (catalog.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                let caller = public_caller(None);
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let version = support::version(&catalog, &caller).await.expect("every call succeeds");
                    seen[version as usize - 1].fetch_add(1, Ordering::Relaxed);
                    calls += 1;
                }
                calls
            })
        })
        .collect();

    for swap in 0..50 {
        let next = if swap % 2 == 0 { 2 } else { 1 };
        support::deploy(&fixture(&format!("version-v{next}.wasm")), &dir.path().join("version.wasm"));
        let caller = public_caller(None);
        support::wait_until(&catalog, || async { support::version(&catalog, &caller).await == Some(next) }).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for caller in callers {
        total += caller.await.expect("no caller failed");
    }
    assert!(total > 50, "calls ran during the swaps: {total}");
    assert!(seen.iter().all(|count| count.load(Ordering::Relaxed) > 0), "both versions served");
}

#[tokio::test]
async fn warm_instances_serve_one_user_for_a_bounded_number_of_runs() {
    let (runtime, cache) = new_runtime();
    let catalog = support::catalog(runtime, cache.path());
    catalog.load_file(&fixture("stateful.wasm")).await.unwrap();
    let user = |root: &str| walker_host::runtime::Caller {
        root_id: root.to_string(),
        authenticated: true,
        ..public_caller(None)
    };
    let (alice, bob) = (user("n::0000000000000000000000aa"), user("n::0000000000000000000000bb"));
    let count = |caller: walker_host::runtime::Caller, trap: bool| {
        let catalog = &catalog;
        async move {
            run_json(catalog, "count", &caller, json!({"trap": trap}))
                .await
                .map(|(reply, _)| reports(&reply)[0].clone())
        }
    };

    // The walker allows 3 runs per instance: its global counts them, then a fresh one starts.
    for expected in [1, 2, 3, 1] {
        assert_eq!(count(alice.clone(), false).await.unwrap(), json!(expected));
    }
    assert_eq!(count(bob.clone(), false).await.unwrap(), json!(1), "never shared across users");
    assert_eq!(count(alice.clone(), false).await.unwrap(), json!(2), "alice's warm instance");

    // A trap drops the instance: the next run starts fresh.
    assert!(matches!(count(alice.clone(), true).await, Err(RunFailure::Call(CallError::Run(_)))));
    assert_eq!(count(alice.clone(), false).await.unwrap(), json!(1));
}

#[tokio::test]
async fn expired_warm_instances_give_their_slots_back() {
    // Two instance slots, both held by idle warm instances of one component.
    let cache = tempfile::tempdir().unwrap();
    let limits =
        walker_host::runtime::Limits { instances: 2, warm_ttl: Duration::from_millis(100), ..support::test_limits() };
    let runtime = support::runtime_with_limits(limits, cache.path());
    let catalog = Arc::new(support::catalog(runtime, cache.path()));
    catalog.load_file(&fixture("stateful.wasm")).await.unwrap();
    catalog.load_file(&fixture("hostile.wasm")).await.unwrap();
    for root in ["n::0000000000000000000000aa", "n::0000000000000000000000bb"] {
        let caller = walker_host::runtime::Caller { root_id: root.into(), authenticated: true, ..public_caller(None) };
        run_json(&catalog, "count", &caller, json!({})).await.unwrap();
    }

    // Another component's walker gets a slot once the sweep drops the expired instances,
    // though nobody calls the warm walker again.
    catalog.runtime().sweep_warm_instances(Duration::from_millis(50));
    let anyone = public_caller(None);
    let echo = run_json(&catalog, "echo", &anyone, json!({"value": 1}));
    let (reply, _) = tokio::time::timeout(Duration::from_secs(5), echo).await.expect("a slot was freed").unwrap();
    assert_eq!(reports(&reply), [json!(1)]);
}

#[tokio::test]
async fn an_idle_warm_instance_expires_and_the_next_run_starts_fresh() {
    let cache = tempfile::tempdir().unwrap();
    let limits = walker_host::runtime::Limits { warm_ttl: Duration::from_millis(100), ..support::test_limits() };
    let runtime = support::runtime_with_limits(limits, cache.path());
    let catalog = support::catalog(runtime, cache.path());
    catalog.load_file(&fixture("stateful.wasm")).await.unwrap();
    let alice = walker_host::runtime::Caller {
        root_id: "n::0000000000000000000000aa".into(),
        authenticated: true,
        ..public_caller(None)
    };
    let count = || async { reports(&run_json(&catalog, "count", &alice, json!({})).await.unwrap().0)[0].clone() };
    assert_eq!(count().await, json!(1));
    assert_eq!(count().await, json!(2), "reused while fresh");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(count().await, json!(1), "expired: a fresh instance");
}

/// A load through `catalog` of a path in its tenant's directory, bounded: a load that
/// blocks (a FIFO) or reads without end (`/dev/zero`) fails the test instead of hanging.
async fn load_error(catalog: &walker_host::catalog::Catalog, path: &std::path::Path) -> String {
    let loaded = tokio::time::timeout(Duration::from_secs(20), catalog.load_file(path)).await;
    format!("{:#}", loaded.expect("the load neither blocked nor read without end").expect_err("refused"))
}

#[tokio::test]
async fn hot_reload_loads_only_regular_files_of_bounded_size_and_compiles_under_a_bound() {
    let (runtime, cache) = new_runtime();
    let catalog = support::catalog(runtime, cache.path());
    let dir = tempfile::tempdir().unwrap();
    let other_tenant = tempfile::tempdir().unwrap();
    support::deploy(&chat_wasm(), &other_tenant.path().join("chat.wasm"));

    let link = dir.path().join("theirs.wasm");
    std::os::unix::fs::symlink(other_tenant.path().join("chat.wasm"), &link).unwrap();
    assert!(load_error(&catalog, &link).await.contains("symbolic link"));
    let zero = dir.path().join("zero.wasm");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert!(load_error(&catalog, &zero).await.contains("symbolic link"));
    let fifo = dir.path().join("fifo.wasm");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    assert!(load_error(&catalog, &fifo).await.contains("not a regular file"));
    assert!(catalog.walker("public_event").is_none(), "nothing was loaded");

    let size = std::fs::metadata(chat_wasm()).unwrap().len() as usize;
    let small = support::runtime_with_limits(
        walker_host::runtime::Limits { file_bytes: size - 1, ..support::test_limits() },
        cache.path(),
    );
    let small = support::catalog(small, cache.path());
    let error = load_error(&small, &chat_wasm()).await;
    assert!(error.contains("larger than the limit"), "{error}");

    let fresh_cache = tempfile::tempdir().unwrap();
    let hurried = support::runtime_with_limits(
        walker_host::runtime::Limits { compile_time: Duration::from_millis(1), ..support::test_limits() },
        fresh_cache.path(),
    );
    let hurried = support::catalog(hurried, fresh_cache.path());
    let error = load_error(&hurried, &chat_wasm()).await;
    assert!(error.contains("compiling took longer than"), "{error}");

    // The same file, a regular one within the limits, loads.
    catalog.load_file(&other_tenant.path().join("chat.wasm")).await.unwrap();
    assert!(catalog.walker("public_event").is_some());
}

/// `warm_idle` bounds the idle warm instances of a component: with one place, another
/// user's run put back evicts the first user's instance, whose next run starts fresh.
#[tokio::test]
async fn idle_warm_instances_past_the_bound_are_evicted_oldest_first() {
    let cache = tempfile::tempdir().unwrap();
    let limits = walker_host::runtime::Limits { warm_idle: 1, ..support::test_limits() };
    let runtime = support::runtime_with_limits(limits, cache.path());
    let catalog = support::catalog(runtime, cache.path());
    catalog.load_file(&fixture("stateful.wasm")).await.unwrap();
    let user = |hex: &str| walker_host::runtime::Caller {
        root_id: format!("n::{hex}"),
        authenticated: true,
        ..public_caller(None)
    };
    let (alice, bob) = (user("0000000000000000000000aa"), user("0000000000000000000000bb"));
    let count = |caller: &walker_host::runtime::Caller| {
        let (catalog, caller) = (&catalog, caller.clone());
        async move { reports(&run_json(catalog, "count", &caller, json!({})).await.unwrap().0)[0].clone() }
    };
    assert_eq!(count(&alice).await, json!(1));
    assert_eq!(count(&bob).await, json!(1), "a user's own instance");
    assert_eq!(count(&alice).await, json!(1), "alice's was evicted for bob's: a fresh instance");
    assert_eq!(count(&alice).await, json!(2), "kept, the one idle instance");
}

/// A file written again with the same bytes (a touch, a deploy tool's second event) is
/// not reloaded: the version that serves, with its warm instances, stays. New bytes are
/// a new version.
#[tokio::test]
async fn a_file_written_again_with_the_same_bytes_is_not_reloaded() {
    let (runtime, cache) = new_runtime();
    let catalog = support::catalog(runtime, cache.path());
    let walkers = tempfile::tempdir().unwrap();
    let file = walkers.path().join("version.wasm");
    let serving = || catalog.walker("version").expect("served").component().clone();
    support::deploy(&fixture("version-v1.wasm"), &file);
    catalog.load_file(&file).await.unwrap();
    let first = serving();
    support::deploy(&fixture("version-v1.wasm"), &file);
    catalog.load_file(&file).await.unwrap();
    assert!(Arc::ptr_eq(&first, &serving()), "the same bytes made a new version");
    support::deploy(&fixture("version-v2.wasm"), &file);
    catalog.load_file(&file).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &serving()), "new bytes are a new version");
}
