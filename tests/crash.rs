//! Crash safety: `kill -9` of the real binary while writes are in flight, then a restart.
//!
//! What a client was told is what the restarted gateway serves. Every write acknowledged before
//! the kill (201, 200, 204) is there with exactly the acknowledged content, or with the content
//! of the same resource's next write if that one was in flight; a write in flight is either
//! absent or whole, never half-applied (each version of a resource changes every field it
//! sends, so a mix of two versions shows). On Docker, once the restarted gateway has
//! reconciled, every image resource runs exactly the replicas its stored spec says (one running
//! container per replica index, all of the stored version) and no container is left for a
//! resource that is gone or never deploys one.
//!
//! The load is 1,000 writes over 200 resources ("lanes": a create, three or four updates,
//! some a delete last) from 32 concurrent clients. One lane's writes are sequential, so at most
//! one of them is in flight when the gateway dies. Most lanes are `url` resources (the store
//! only); on Docker twelve are image resources with replicaCount 0 (a reconciler worker each, no
//! container) and three run real containers, scaled between 1 and 2 replicas. The kill comes
//! after a seeded number of acknowledgements between 300 and 699 (printed; `CRASH_SEED=n`
//! picks the same kill point again).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::models::ContainerSummary;
use common::docker::{
    DockerGateway, LABEL_NAME, LABEL_REPLICA, LABEL_SPEC_HASH, engine_or_skip, ids, label,
};
use common::{Gateway, client, config_none, exposition};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

const LANES: usize = 200;
const WRITES_PER_LANE: usize = 5;
const CLIENTS: usize = 32;
/// How long the writes get to reach the kill point, and the restarted gateway to reconcile.
const WRITES_DEADLINE: Duration = Duration::from_secs(120);
const RECONCILE_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Adapter,
    Tool,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Kind::Adapter => "adapters",
            Kind::Tool => "tools",
        }
    }
}

/// How a lane's resource runs.
#[derive(Clone, Debug)]
enum Deploy {
    /// A remote server (never contacted: nothing proxies in this test).
    Url,
    /// A local image; `replicas[v]` is version v's replicaCount.
    Image {
        image: &'static str,
        replicas: [u32; WRITES_PER_LANE],
    },
}

/// One resource and the writes made to it, in order.
#[derive(Debug)]
struct Lane {
    kind: Kind,
    name: String,
    deploy: Deploy,
    ends_with_delete: bool,
}

#[derive(Clone, Debug)]
enum Write {
    Create(Value),
    Put(Value),
    Delete,
}

#[derive(Debug)]
enum Outcome {
    /// The expected status and, for 201/200, the body the client received.
    Acked(Option<Value>),
    /// No complete answer: the gateway died with the write in flight (or before it arrived).
    InFlight,
    /// Anything a healthy gateway should not answer (or an error before the kill).
    Unexpected(String),
}

#[derive(Debug)]
struct Attempt {
    write: Write,
    outcome: Outcome,
}

impl Lane {
    /// Version `v` of the resource: every field it sends differs from every other version's.
    fn body(&self, v: usize) -> Value {
        let mut body = json!({
            "name": self.name,
            "description": format!("{} v{v}", self.name),
            "requiredRoles": [format!("r{v}")],
        });
        match &self.deploy {
            Deploy::Url => body["url"] = json!(format!("http://127.0.0.1:1/v{v}/mcp")),
            Deploy::Image { image, replicas } => {
                body["imageName"] = json!(image);
                body["imageVersion"] = json!("1.0.0");
                body["replicaCount"] = json!(replicas[v]);
                body["environmentVariables"] = json!({"VERSION": v.to_string()});
            }
        }
        if self.kind == Kind::Tool {
            let mut definition = json!({"tool": {
                "name": self.name,
                "description": format!("v{v}"),
                "inputSchema": {"type": "object"},
            }});
            if matches!(self.deploy, Deploy::Image { .. }) {
                definition["port"] = json!(8000);
                definition["path"] = json!("/score");
            }
            body["toolDefinition"] = definition;
        }
        body
    }

    fn write(&self, step: usize) -> Write {
        match step {
            0 => Write::Create(self.body(0)),
            last if last == WRITES_PER_LANE - 1 && self.ends_with_delete => Write::Delete,
            v => Write::Put(self.body(v)),
        }
    }
}

/// The 200 lanes; with `docker`, 15 of them are image resources (see the module docs).
fn lanes(docker: bool) -> Vec<Lane> {
    (0..LANES)
        .map(|i| {
            let live = |image| Deploy::Image {
                image,
                replicas: [1, 2, 1, 2, 1],
            };
            let (kind, deploy) = match i {
                // Spread over the clients and over each client's turn.
                0 | 97 if docker => (Kind::Adapter, live("mcp-example")),
                194 if docker => (Kind::Tool, live("tool-example")),
                i if docker && i % 16 == 8 => (
                    Kind::Adapter,
                    Deploy::Image {
                        image: "mcp-example",
                        replicas: [0; WRITES_PER_LANE],
                    },
                ),
                i if i % 5 == 2 => (Kind::Tool, Deploy::Url),
                _ => (Kind::Adapter, Deploy::Url),
            };
            let prefix = match kind {
                Kind::Adapter => "a",
                Kind::Tool => "t",
            };
            Lane {
                kind,
                name: format!("crash-{prefix}{i}"),
                deploy,
                ends_with_delete: i % 3 == 0,
            }
        })
        .collect()
}

/// The seed of this run: `CRASH_SEED`, else the clock.
fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos().into())
        })
}

/// Sends one write; the outcome as the client saw it.
async fn send(
    http: &reqwest::Client,
    base: &str,
    lane: &Lane,
    write: &Write,
    killed: &AtomicBool,
) -> Outcome {
    let collection = format!("{base}/{}", lane.kind.collection());
    let item = format!("{collection}/{}", lane.name);
    let (request, expected) = match write {
        Write::Create(body) => (http.post(&collection).json(body), StatusCode::CREATED),
        Write::Put(body) => (http.put(&item).json(body), StatusCode::OK),
        Write::Delete => (http.delete(&item), StatusCode::NO_CONTENT),
    };
    let in_flight = |err: reqwest::Error| {
        if killed.load(Ordering::SeqCst) {
            Outcome::InFlight
        } else {
            Outcome::Unexpected(format!("failed before the kill: {err}"))
        }
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return in_flight(err),
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(err) => return in_flight(err),
    };
    if status != expected {
        return Outcome::Unexpected(format!("{status} (expected {expected}): {text}"));
    }
    if status == StatusCode::NO_CONTENT {
        return Outcome::Acked(None);
    }
    match serde_json::from_str(&text) {
        Ok(body) => Outcome::Acked(Some(body)),
        Err(err) => Outcome::Unexpected(format!("{status} with a body that is not JSON: {err}")),
    }
}

/// Runs every lane's writes from [`CLIENTS`] concurrent clients against `base` and calls
/// `kill` once `kill_after` writes are acknowledged (or a write went wrong, or all are done).
/// Returns each lane's attempts, in order; a lane stops at its first write without an ack, and
/// no write is sent once the kill has begun.
async fn write_until_killed(
    base: &str,
    lanes: &Arc<Vec<Lane>>,
    kill_after: usize,
    kill: impl FnOnce(),
) -> Vec<Vec<Attempt>> {
    let http = client();
    let acked = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let time_to_kill = Arc::new(Notify::new());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, base, lanes) = (http.clone(), base.to_string(), lanes.clone());
            let (acked, finished) = (acked.clone(), finished.clone());
            let (killed, time_to_kill) = (killed.clone(), time_to_kill.clone());
            tokio::spawn(async move {
                let mine: Vec<usize> = (c..LANES).step_by(CLIENTS).collect();
                let mut log: Vec<(usize, Attempt)> = Vec::new();
                let mut stopped = BTreeSet::new();
                'writes: for step in 0..WRITES_PER_LANE {
                    for &index in &mine {
                        // Nothing new after the kill: its port could soon be someone else's.
                        if killed.load(Ordering::SeqCst) {
                            break 'writes;
                        }
                        if stopped.contains(&index) {
                            continue;
                        }
                        let lane = &lanes[index];
                        let write = lane.write(step);
                        let outcome = send(&http, &base, lane, &write, &killed).await;
                        match &outcome {
                            Outcome::Acked(_) => {
                                if acked.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                                    time_to_kill.notify_one();
                                }
                            }
                            Outcome::InFlight => {
                                stopped.insert(index);
                            }
                            Outcome::Unexpected(_) => {
                                stopped.insert(index);
                                time_to_kill.notify_one();
                            }
                        }
                        log.push((index, Attempt { write, outcome }));
                    }
                }
                if finished.fetch_add(1, Ordering::SeqCst) + 1 == CLIENTS {
                    time_to_kill.notify_one();
                }
                log
            })
        })
        .collect();

    if tokio::time::timeout(WRITES_DEADLINE, time_to_kill.notified())
        .await
        .is_err()
    {
        eprintln!("the writes did not reach the kill point in {WRITES_DEADLINE:?}; killing anyway");
    }
    killed.store(true, Ordering::SeqCst);
    kill();
    eprintln!(
        "killed after {} acknowledged writes",
        acked.load(Ordering::SeqCst)
    );

    let mut attempts: Vec<Vec<Attempt>> = (0..LANES).map(|_| Vec::new()).collect();
    for handle in clients {
        for (index, attempt) in handle.await.expect("client task") {
            attempts[index].push(attempt);
        }
    }
    attempts
}

/// What a lane's resource may look like after the restart.
#[derive(Debug)]
enum Expect {
    Absent,
    /// Exactly what the client was answered.
    Exactly(Value),
    /// A write in flight that took effect: every field sent, the creation time kept.
    Whole {
        body: Value,
        created_at: Option<Value>,
    },
}

impl Expect {
    fn matches(&self, stored: Option<&Value>) -> bool {
        match (self, stored) {
            (Expect::Absent, None) => true,
            (Expect::Exactly(answered), Some(stored)) => stored == answered,
            (Expect::Whole { body, created_at }, Some(stored)) => {
                holds(stored, body)
                    && created_at
                        .as_ref()
                        .is_none_or(|at| &stored["createdAt"] == at)
                    && stored["source"] == "api"
            }
            _ => false,
        }
    }
}

/// Whether `stored` holds every field of `sent` with the value sent (objects field by field,
/// since the stored form adds defaults such as a url tool's `toolDefinition.port`).
fn holds(stored: &Value, sent: &Value) -> bool {
    match (stored, sent) {
        (Value::Object(stored), Value::Object(sent)) => sent
            .iter()
            .all(|(field, value)| stored.get(field).is_some_and(|s| holds(s, value))),
        _ => stored == sent,
    }
}

/// The states a lane may be in: after its last acknowledged write, or (second, if any) after
/// the write in flight behind it. Panics on an unexpected outcome.
fn allowed(lane: &Lane, attempts: &[Attempt]) -> Vec<Expect> {
    let mut settled = Expect::Absent;
    let mut in_flight = None;
    for attempt in attempts {
        match (&attempt.outcome, &attempt.write) {
            (Outcome::Acked(Some(answer)), Write::Create(_) | Write::Put(_)) => {
                settled = Expect::Exactly(answer.clone());
            }
            (Outcome::Acked(None), Write::Delete) => settled = Expect::Absent,
            (Outcome::InFlight, Write::Create(body)) => {
                in_flight = Some(Expect::Whole {
                    body: body.clone(),
                    created_at: None,
                });
            }
            (Outcome::InFlight, Write::Put(body)) => {
                let Expect::Exactly(answer) = &settled else {
                    panic!("{}: a PUT was sent with no acknowledged create", lane.name);
                };
                in_flight = Some(Expect::Whole {
                    body: body.clone(),
                    created_at: Some(answer["createdAt"].clone()),
                });
            }
            (Outcome::InFlight, Write::Delete) => in_flight = Some(Expect::Absent),
            (outcome, write) => panic!("{}: {write:?} got {outcome:?}", lane.name),
        }
    }
    std::iter::once(settled).chain(in_flight).collect()
}

/// `GET /adapters` and `GET /tools` of the restarted gateway, by name.
async fn stored(base: &str) -> BTreeMap<String, (Kind, Value)> {
    let http = client();
    let mut out = BTreeMap::new();
    for kind in [Kind::Adapter, Kind::Tool] {
        let listed: Vec<Value> = http
            .get(format!("{base}/{}", kind.collection()))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        for resource in listed {
            let name = resource["name"].as_str().expect("name").to_string();
            out.insert(name, (kind, resource));
        }
    }
    out
}

/// Checks the restarted gateway's store against what the clients were told; returns the stored
/// resources by name.
async fn check_store(
    base: &str,
    lanes: &[Lane],
    attempts: &[Vec<Attempt>],
) -> BTreeMap<String, (Kind, Value)> {
    let unexpected: Vec<String> = lanes
        .iter()
        .zip(attempts)
        .flat_map(|(lane, tried)| tried.iter().map(move |a| (lane, a)))
        .filter_map(|(lane, attempt)| match &attempt.outcome {
            Outcome::Unexpected(why) => Some(format!("{} {:?}: {why}", lane.name, attempt.write)),
            _ => None,
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers a healthy gateway does not give:\n{}",
        unexpected.join("\n")
    );
    let stored = stored(base).await;
    let mut wrong = Vec::new();
    let mut took_effect = 0;
    for (lane, tried) in lanes.iter().zip(attempts) {
        let found = stored.get(&lane.name).map(|(kind, resource)| {
            assert_eq!(*kind, lane.kind, "{} listed as a {kind:?}", lane.name);
            resource
        });
        let allowed = allowed(lane, tried);
        match allowed.iter().position(|expect| expect.matches(found)) {
            None => wrong.push(format!(
                "{}: stored {found:?}, allowed {allowed:?}",
                lane.name
            )),
            Some(1) => took_effect += 1,
            Some(_) => {}
        }
    }
    eprintln!("{took_effect} write(s) in flight at the kill took effect, whole");
    let known: BTreeSet<&str> = lanes.iter().map(|l| l.name.as_str()).collect();
    wrong.extend(
        stored
            .keys()
            .filter(|name| !known.contains(name.as_str()))
            .map(|name| format!("{name}: stored, but no client wrote it")),
    );
    assert!(
        wrong.is_empty(),
        "{} of {LANES} resources differ from what the clients were told:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    stored
}

fn summary(attempts: &[Vec<Attempt>]) -> (usize, usize) {
    let all = attempts.iter().flatten();
    let acked = all
        .clone()
        .filter(|a| matches!(a.outcome, Outcome::Acked(_)))
        .count();
    let in_flight = all
        .filter(|a| matches!(a.outcome, Outcome::InFlight))
        .count();
    (acked, in_flight)
}

fn kill_point() -> usize {
    let seed = seed();
    let kill_after = 300 + (seed % 400) as usize;
    eprintln!("CRASH_SEED={seed}: kill -9 after {kill_after} acknowledged writes");
    kill_after
}

/// Runtime `none`: 1,000 writes of `url` resources, `kill -9` in the middle, restart, compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let lanes = Arc::new(lanes(false));
    let started = Instant::now();
    let base = gw.base.clone();
    let attempts = write_until_killed(&base, &lanes, kill_point(), move || gw.kill9()).await;
    let (acked, in_flight) = summary(&attempts);
    eprintln!(
        "{acked} writes acknowledged, {in_flight} in flight at the kill, in {:?}",
        started.elapsed()
    );
    assert!(
        acked < LANES * WRITES_PER_LANE,
        "the kill came after every write"
    );

    let gw = Gateway::start_with(&dir.path().join("config.toml"), &[]);
    check_store(&gw.base, &lanes, &attempts).await;
}

/// A PUT's 200 is on disk when it is sent: `kill -9` right after it loses nothing.
#[tokio::test]
async fn a_put_200_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let lanes = [
        Lane {
            kind: Kind::Adapter,
            name: "put-adapter".into(),
            deploy: Deploy::Url,
            ends_with_delete: false,
        },
        Lane {
            kind: Kind::Tool,
            name: "put-tool".into(),
            deploy: Deploy::Url,
            ends_with_delete: false,
        },
    ];
    let mut answered = Vec::new();
    for lane in &lanes {
        let collection = gw.url(&format!("/{}", lane.kind.collection()));
        let created = http
            .post(&collection)
            .json(&lane.body(0))
            .send()
            .await
            .expect("post");
        assert_eq!(created.status(), StatusCode::CREATED, "{}", lane.name);
        let created: Value = created.json().await.expect("json");
        let updated = http
            .put(format!("{collection}/{}", lane.name))
            .json(&lane.body(1))
            .send()
            .await
            .expect("put");
        assert_eq!(updated.status(), StatusCode::OK, "{}", lane.name);
        let updated: Value = updated.json().await.expect("json");
        assert_ne!(updated, created, "the PUT changed {}", lane.name);
        answered.push(updated);
    }
    gw.kill9();

    let gw = Gateway::start_with(&dir.path().join("config.toml"), &[]);
    let http = client();
    for (lane, answered) in lanes.iter().zip(answered) {
        let url = gw.url(&format!("/{}/{}", lane.kind.collection(), lane.name));
        let stored: Value = http
            .get(url)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(stored, answered, "{} as the PUT's 200 said", lane.name);
    }
}

/// Docker: the same load with image resources among it; after the restart the store is checked
/// as above, then the containers: exactly what the store says, and they stay so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_leaves_no_orphan_or_duplicate_container() {
    let test = "kill_9_under_load_leaves_no_orphan_or_duplicate_container";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    let mut gw = DockerGateway::start(&docker);
    let lanes = Arc::new(lanes(true));
    let started = Instant::now();
    let base = gw.url("");
    let attempts = write_until_killed(&base, &lanes, kill_point(), || gw.stop()).await;
    let (acked, in_flight) = summary(&attempts);
    let left = gw.containers(None).await;
    eprintln!(
        "{acked} writes acknowledged, {in_flight} in flight at the kill, in {:?}; {} \
         container(s) at the kill: {}",
        started.elapsed(),
        left.len(),
        describe(&left.iter().collect::<Vec<_>>())
    );
    assert!(
        acked < LANES * WRITES_PER_LANE,
        "the kill came after every write"
    );

    gw.start_again();
    let restarted = Instant::now();
    let stored = check_store(&gw.url(""), &lanes, &attempts).await;
    let deploying = stored.values().filter(|(_, r)| r["imageName"].is_string());
    eprintln!("{} image resources stored", deploying.count());

    let settled = until_ok(
        "the containers to match the store",
        RECONCILE_DEADLINE,
        || converged(&gw, &stored),
    )
    .await;
    eprintln!(
        "reconciled {} container(s) in {:?}",
        settled.len(),
        restarted.elapsed()
    );

    // Nothing appears or goes afterwards: three more full reconcile passes (each lists the
    // gateway's containers and reaps what no resource owns) change nothing.
    let passes = reconcile_passes(&gw).await;
    until_ok(
        "three more reconcile passes",
        RECONCILE_DEADLINE,
        || async {
            let now = reconcile_passes(&gw).await;
            if now >= passes + 3.0 {
                Ok(())
            } else {
                Err(format!("{now} passes, waiting for {}", passes + 3.0))
            }
        },
    )
    .await;
    let again = converged(&gw, &stored)
        .await
        .unwrap_or_else(|why| panic!("after three more reconcile passes: {why}"));
    assert_eq!(
        again, settled,
        "the same containers, none added or replaced"
    );
}

/// Polls `check` until it is `Ok`; panics with its last `Err` at the deadline.
async fn until_ok<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(why) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// How many reconcile passes have listed the gateway's containers (from `/metrics`).
async fn reconcile_passes(gw: &DockerGateway) -> f64 {
    exposition::scrape(&gw.url("/metrics"))
        .await
        .value(
            "mcp_gateway_runtime_calls_total",
            &[("operation", "list_managed"), ("outcome", "ok")],
        )
        .unwrap_or(0.0)
}

fn is_running(container: &ContainerSummary) -> bool {
    container.state.map(|s| s.to_string()).as_deref() == Some("running")
}

fn describe(containers: &[&ContainerSummary]) -> String {
    containers
        .iter()
        .map(|c| {
            format!(
                "{}#{}@{} {}",
                label(c, LABEL_NAME).unwrap_or("?"),
                label(c, LABEL_REPLICA).unwrap_or("?"),
                label(c, LABEL_SPEC_HASH).unwrap_or("?"),
                c.state.map(|s| s.to_string()).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Ok` with the ids of this gateway's containers when they are exactly what `stored` says:
/// for each image resource, one running container per replica index below its replicaCount,
/// all of one spec and created with its stored VERSION; nothing for any other name.
async fn converged(
    gw: &DockerGateway,
    stored: &BTreeMap<String, (Kind, Value)>,
) -> Result<Vec<String>, String> {
    let containers = gw.containers(None).await;
    let mut by_name: BTreeMap<&str, Vec<&ContainerSummary>> = BTreeMap::new();
    for container in &containers {
        let name = label(container, LABEL_NAME).unwrap_or("?");
        by_name.entry(name).or_default().push(container);
    }
    let deploying: BTreeMap<&str, &Value> = stored
        .iter()
        .filter(|(_, (_, resource))| resource["imageName"].is_string())
        .map(|(name, (_, resource))| (name.as_str(), resource))
        .collect();
    if let Some((name, found)) = by_name.iter().find(|(n, _)| !deploying.contains_key(*n)) {
        return Err(format!(
            "{name} deploys nothing (deleted, never created or a url resource) and has \
             container(s): {}",
            describe(found)
        ));
    }
    for (name, resource) in &deploying {
        let replicas = resource["replicaCount"].as_u64().expect("replicaCount");
        let version = resource["environmentVariables"]["VERSION"]
            .as_str()
            .expect("VERSION");
        let found = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
        let mut indices: Vec<u64> = found
            .iter()
            .filter_map(|c| label(c, LABEL_REPLICA)?.parse().ok())
            .collect();
        indices.sort_unstable();
        let hashes: BTreeSet<&str> = found
            .iter()
            .filter_map(|c| label(c, LABEL_SPEC_HASH))
            .collect();
        if indices != (0..replicas).collect::<Vec<_>>()
            || indices.len() != found.len()
            || hashes.len() > 1
            || !found.iter().all(|c| is_running(c))
        {
            return Err(format!(
                "{name}: the store says {replicas} replica(s), the engine has: {}",
                describe(found)
            ));
        }
        let want = format!("VERSION={version}");
        for container in found {
            let id = container.id.as_deref().expect("container id");
            let env = gw
                .docker
                .inspect_container(id, None)
                .await
                .map_err(|err| format!("inspect {id}: {err}"))?
                .config
                .and_then(|config| config.env)
                .unwrap_or_default();
            if !env.contains(&want) {
                return Err(format!(
                    "{name}: container {id} runs {env:?}, the store says {want}"
                ));
            }
        }
    }
    Ok(ids(&containers))
}
