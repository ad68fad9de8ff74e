//! The double's controllers: a StatefulSet controller, a garbage collector and a "kubelet" that
//! runs each pod's container as a local process.
//!
//! Every 100 ms: StatefulSets get pods `<name>-0..N-1` (all at once for `Parallel`, one by one
//! for `OrderedReady`), extra ordinals are deleted, pods of an old template are replaced one at
//! a time from the highest ordinal once all are Ready, and the StatefulSet's status is written.
//! Pods whose StatefulSet is gone are deleted. Each pod gets its own loopback address
//! (127.0.0.2, 127.0.0.3, ...) as pod IP and runs the binary its image maps to, with the
//! container's env plus `PORT` (the container port), `BIND` (the pod IP) and `HOSTNAME` (the pod
//! name). `command` and `args` mean what they mean in Kubernetes: `command` replaces the image's
//! binary (its first word is looked up in the test process's `PATH`: the double's "image
//! filesystem" is the host's; the image must still be in the map, or the pod cannot pull it),
//! `args` are its arguments (the double's images have no default arguments). A container with
//! `stdin: true` gets a stdin pipe that stays open for its whole life; its stdin and stdout are
//! served by `pods/attach` (see `attach`), its stdout and stderr logged as a runtime does. Ready means the readiness probe's TCP port accepts a connection (or, without a probe,
//! that the process runs). A deleted pod's process is killed (SIGKILL, no grace period) and the
//! object removed; an exited process is restarted with back-off (CrashLoopBackOff).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::attach::Terminals;
use crate::logs::LogBook;
use crate::selector::Selector;
use crate::store::{Kind, Store, now};

const TICK: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// Pod IPs handed out in this process (so two doubles in one test binary never share one).
static NEXT_IP: AtomicU32 = AtomicU32::new(0);

/// What tests may do to pods besides the API: keep one from starting, fail its readiness.
#[derive(Default)]
pub struct Controls {
    pub held: Mutex<HashSet<(String, String)>>,
    pub unready: Mutex<HashSet<(String, String)>>,
}

impl Controls {
    fn has(set: &Mutex<HashSet<(String, String)>>, namespace: &str, name: &str) -> bool {
        set.lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(namespace.to_string(), name.to_string()))
    }
}

/// What the kubelet knows about one pod (by uid) beyond the API object.
struct PodRuntime {
    ip: Option<Ipv4Addr>,
    child: Option<Child>,
    started_at: Option<String>,
    restarts: i32,
    last_exit: Option<i32>,
    restart_at: Option<Instant>,
    ready: bool,
}

/// The process id of every running pod, by pod uid; shared so that dropping the double kills
/// them all at once, whatever state its tasks are in.
pub type Processes = Arc<Mutex<HashMap<String, u32>>>;

pub struct Kubelet {
    store: Arc<Store>,
    images: HashMap<String, PathBuf>,
    controls: Arc<Controls>,
    logs: LogBook,
    terminals: Terminals,
    pods: HashMap<String, PodRuntime>,
    children: Processes,
}

impl Kubelet {
    pub fn new(
        store: Arc<Store>,
        images: HashMap<String, PathBuf>,
        controls: Arc<Controls>,
        logs: LogBook,
        terminals: Terminals,
        children: Processes,
    ) -> Kubelet {
        Kubelet {
            store,
            images,
            controls,
            logs,
            terminals,
            pods: HashMap::new(),
            children,
        }
    }

    /// Runs until the task is aborted.
    pub async fn run(mut self) {
        loop {
            self.statefulsets();
            self.collect_garbage();
            self.run_pods().await;
            tokio::time::sleep(TICK).await;
        }
    }

    fn statefulsets(&self) {
        let (sets, _) = self
            .store
            .list(Kind::StatefulSet, None, &Selector::default());
        let (all_pods, _) = self.store.list(Kind::Pod, None, &Selector::default());
        for sts in sets {
            let namespace = sts["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = sts["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let uid = sts["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let replicas = sts["spec"]["replicas"].as_u64().unwrap_or(1) as u32;
            let ordered = sts["spec"]["podManagementPolicy"].as_str() != Some("Parallel");
            let revision = format!("{name}-{}", revision_hash(&sts["spec"]["template"]));
            let pods: BTreeMap<u32, &Value> = all_pods
                .iter()
                .filter(|pod| pod["metadata"]["ownerReferences"][0]["uid"] == uid.as_str())
                .filter_map(|pod| Some((ordinal(&name, pod["metadata"]["name"].as_str()?)?, pod)))
                .collect();
            let terminating = |pod: &Value| pod["metadata"].get("deletionTimestamp").is_some();
            let ready = |pod: &Value| is_ready(pod) && !terminating(pod);
            let revision_of =
                |pod: &Value| pod["metadata"]["labels"]["controller-revision-hash"].clone();

            for ordinal in 0..replicas {
                if pods.contains_key(&ordinal) {
                    continue;
                }
                if ordered && (0..ordinal).any(|o| !pods.get(&o).is_some_and(|p| ready(p))) {
                    break;
                }
                let pod = pod_from_template(&sts, &name, &uid, ordinal, &revision);
                // A same-named pod of a deleted StatefulSet may still be terminating.
                let _ = self.store.create(Kind::Pod, &namespace, pod);
            }
            let extra: Vec<&Value> = pods
                .range(replicas..)
                .map(|(_, p)| *p)
                .filter(|p| !terminating(p))
                .collect();
            let to_remove = if ordered {
                extra.into_iter().last().into_iter().collect()
            } else {
                extra
            };
            for pod in to_remove {
                self.delete_pod(&namespace, pod);
            }
            let current: Vec<&Value> = (0..replicas)
                .filter_map(|o| pods.get(&o).copied())
                .collect();
            let settled = current.len() == replicas as usize && current.iter().all(|p| ready(p));
            if settled
                && let Some(old) = current
                    .iter()
                    .rev()
                    .find(|p| revision_of(p) != revision.as_str())
            {
                self.delete_pod(&namespace, old);
            }

            let count = |f: &dyn Fn(&Value) -> bool| pods.values().filter(|p| f(p)).count();
            let updated = count(&|p| revision_of(p) == revision.as_str() && !terminating(p));
            let ready_count = count(&|p| ready(p));
            let status = json!({
                "observedGeneration": sts["metadata"]["generation"],
                "replicas": count(&|p| !terminating(p)),
                "readyReplicas": ready_count,
                "availableReplicas": ready_count,
                "currentReplicas": updated,
                "updatedReplicas": updated,
                "currentRevision": revision,
                "updateRevision": revision,
            });
            self.store
                .set_status(Kind::StatefulSet, &namespace, &name, &uid, status);
        }
    }

    /// Deletes pods whose owning StatefulSet no longer exists (background cascading deletion).
    fn collect_garbage(&self) {
        let (sets, _) = self
            .store
            .list(Kind::StatefulSet, None, &Selector::default());
        let owners: HashSet<&str> = sets
            .iter()
            .filter_map(|s| s["metadata"]["uid"].as_str())
            .collect();
        let (pods, _) = self.store.list(Kind::Pod, None, &Selector::default());
        for pod in pods {
            let owner = pod["metadata"]["ownerReferences"][0]["uid"].as_str();
            if owner.is_some_and(|uid| !owners.contains(uid))
                && pod["metadata"].get("deletionTimestamp").is_none()
            {
                let namespace = pod["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.delete_pod(&namespace, &pod);
            }
        }
    }

    fn delete_pod(&self, namespace: &str, pod: &Value) {
        if let (Some(name), Some(uid)) = (
            pod["metadata"]["name"].as_str(),
            pod["metadata"]["uid"].as_str(),
        ) {
            let _ = self.store.delete(Kind::Pod, namespace, name, Some(uid));
        }
    }

    /// Starts, restarts, probes and stops processes; writes pod status.
    async fn run_pods(&mut self) {
        let (pods, _) = self.store.list(Kind::Pod, None, &Selector::default());
        let live: HashSet<String> = pods
            .iter()
            .filter_map(|p| p["metadata"]["uid"].as_str().map(String::from))
            .collect();
        let terminals = &self.terminals;
        self.pods.retain(|uid, _| {
            let keep = live.contains(uid);
            if !keep {
                terminals.stop(uid);
            }
            keep
        });
        for pod in &pods {
            let namespace = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let container = &pod["spec"]["containers"][0];
            let port = container["ports"][0]["containerPort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok());
            let runtime = self.pods.entry(uid.clone()).or_insert_with(|| PodRuntime {
                ip: None,
                child: None,
                started_at: None,
                restarts: 0,
                last_exit: None,
                restart_at: None,
                ready: false,
            });
            if pod["metadata"].get("deletionTimestamp").is_some() {
                if let Some(mut child) = runtime.child.take() {
                    let _ = child.start_kill();
                    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                }
                self.children
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&uid);
                self.terminals.stop(&uid);
                self.store.finalize(Kind::Pod, &namespace, &name, &uid);
                self.logs.forget(&uid);
                continue;
            }
            // The process ended: record it and schedule a restart with back-off.
            if let Some(child) = runtime.child.as_mut()
                && let Ok(Some(exit)) = child.try_wait()
            {
                runtime.child = None;
                runtime.ready = false;
                self.terminals.stop(&uid);
                runtime.last_exit = Some(exit.code().unwrap_or(137));
                runtime.restarts += 1;
                let backoff = Duration::from_secs(1 << runtime.restarts.clamp(0, 3));
                runtime.restart_at = Some(Instant::now() + backoff);
            }
            let image = container["image"].as_str().unwrap_or_default().to_string();
            let held = Controls::has(&self.controls.held, &namespace, &name);
            let binary = self.images.get(&image).cloned();
            let mut waiting: Option<(String, String)> = None;
            if runtime.child.is_none() {
                if held {
                    waiting = Some(("ContainerCreating".into(), String::new()));
                } else if binary.is_none() {
                    waiting = Some((
                        "ErrImagePull".into(),
                        format!(
                            "image \"{image}\" is not in the kube-double's image map (the double runs local binaries, it pulls nothing)"
                        ),
                    ));
                } else if runtime.restart_at.is_some_and(|at| Instant::now() < at) {
                    waiting = Some((
                        "CrashLoopBackOff".into(),
                        format!(
                            "back-off restarting failed container {} in pod {name}",
                            container["name"].as_str().unwrap_or_default()
                        ),
                    ));
                } else if let Some(binary) = binary {
                    let ip = *runtime.ip.get_or_insert_with(|| allocate_ip(port));
                    match spawn(&binary, container, ip, port, &name) {
                        Ok(mut child) => {
                            if let Some(pid) = child.id() {
                                self.children
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(uid.clone(), pid);
                            }
                            if container["stdin"] == true {
                                self.terminals.start(&uid, &mut child, &self.logs);
                            } else {
                                self.logs.capture(&uid, &mut child);
                            }
                            runtime.child = Some(child);
                            runtime.started_at = Some(now());
                            runtime.restart_at = None;
                        }
                        Err(err) => {
                            waiting = Some((
                                "RunContainerError".into(),
                                format!(
                                    "cannot start {}: {err}",
                                    program(&binary, container).0.display()
                                ),
                            ));
                        }
                    }
                }
            }
            runtime.ready = match (&runtime.child, runtime.ip) {
                (Some(_), Some(ip))
                    if !Controls::has(&self.controls.unready, &namespace, &name) =>
                {
                    match probe_port(container, port) {
                        Some(probe) => tcp_open(SocketAddr::from((ip, probe))).await,
                        None => true,
                    }
                }
                _ => false,
            };
            let status = pod_status(runtime, container, &image, waiting);
            self.store
                .set_status(Kind::Pod, &namespace, &name, &uid, status);
        }
        // Keep the shared process table in step so dropping the double kills everything.
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        children.clear();
        for (uid, runtime) in &self.pods {
            if let Some(pid) = runtime.child.as_ref().and_then(Child::id) {
                children.insert(uid.clone(), pid);
            }
        }
    }
}

/// `<name>-<ordinal>`'s ordinal.
fn ordinal(statefulset: &str, pod: &str) -> Option<u32> {
    pod.strip_prefix(statefulset)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A short stable hash of a pod template (FNV-1a over its JSON), like the controller's.
fn revision_hash(template: &Value) -> String {
    let text = template.to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

fn pod_from_template(sts: &Value, name: &str, uid: &str, ordinal: u32, revision: &str) -> Value {
    let template = &sts["spec"]["template"];
    let pod_name = format!("{name}-{ordinal}");
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels["controller-revision-hash"] = json!(revision);
    labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    labels["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!(pod_name);
    spec["subdomain"] = sts["spec"]["serviceName"].clone();
    spec["nodeName"] = json!("kube-double");
    json!({
        "metadata": {
            "name": pod_name,
            "labels": labels,
            "annotations": template["metadata"]["annotations"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                                 "uid": uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
    })
}

/// The next free loopback address: 127.0.0.2, 127.0.0.3, ... skipping any where something
/// already listens on `port` (a process left over from an earlier run, say).
fn allocate_ip(port: Option<u16>) -> Ipv4Addr {
    loop {
        let n = NEXT_IP.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::new(127, 0, ((n / 253) % 256) as u8, (2 + n % 253) as u8);
        let busy = port.is_some_and(|port| {
            std::net::TcpStream::connect_timeout(&SocketAddr::from((ip, port)), PROBE_TIMEOUT)
                .is_ok()
        });
        if !busy {
            return ip;
        }
    }
}

fn spawn(
    binary: &Path,
    container: &Value,
    ip: Ipv4Addr,
    port: Option<u16>,
    pod: &str,
) -> std::io::Result<Child> {
    let (program, args) = program(binary, container);
    let mut command = Command::new(program);
    command.args(args);
    // A container sees exactly its spec's environment, not the test's.
    command.env_clear();
    for var in container["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
            command.env(name, value);
        }
    }
    if let Some(port) = port {
        command.env("PORT", port.to_string());
    }
    command
        .env("BIND", ip.to_string())
        .env("HOSTNAME", pod)
        .stdin(if container["stdin"] == true {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent; it makes the
    // process die with the thread that started it, so a killed test leaves no servers behind.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn()
}

/// What a container runs: `command` (its first word looked up in `PATH`) or else the image's
/// binary, with `command`'s other words and then `args` as arguments.
fn program(binary: &Path, container: &Value) -> (PathBuf, Vec<String>) {
    let words = |field: &str| -> Vec<String> {
        container[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|word| word.as_str().map(String::from))
            .collect()
    };
    let mut command = words("command");
    let args = words("args");
    if command.is_empty() {
        return (binary.to_path_buf(), args);
    }
    let first = command.remove(0);
    command.extend(args);
    (resolve(&first), command)
}

/// `name` as the container's `PATH` lookup would find it; unchanged when it holds a `/` or is
/// nowhere (then starting it fails with the OS's words).
fn resolve(name: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The TCP port of the readiness probe, if the container has one.
fn probe_port(container: &Value, container_port: Option<u16>) -> Option<u16> {
    let port = &container["readinessProbe"]["tcpSocket"]["port"];
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).ok();
    }
    let named = port.as_str()?;
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == named)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .or(container_port)
}

async fn tcp_open(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

fn pod_status(
    runtime: &PodRuntime,
    container: &Value,
    image: &str,
    waiting: Option<(String, String)>,
) -> Value {
    let state = match (&waiting, &runtime.child) {
        (Some((reason, message)), _) if message.is_empty() => {
            json!({"waiting": {"reason": reason}})
        }
        (Some((reason, message)), _) => json!({"waiting": {"reason": reason, "message": message}}),
        (None, Some(_)) => json!({"running": {"startedAt": runtime.started_at}}),
        (None, None) => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let running = runtime.child.is_some();
    let ready = if runtime.ready { "True" } else { "False" };
    let mut container_status = json!({
        "name": container["name"], "image": image, "imageID": "", "ready": runtime.ready,
        "started": running, "restartCount": runtime.restarts, "state": state,
    });
    if let Some(code) = runtime.last_exit {
        container_status["lastState"] =
            json!({"terminated": {"exitCode": code, "reason": "Error"}});
    }
    let mut status = json!({
        "phase": if running || runtime.restarts > 0 { "Running" } else { "Pending" },
        "hostIP": "127.0.0.1",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ],
        "containerStatuses": [container_status],
    });
    if let Some(ip) = runtime.ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{"ip": ip.to_string()}]);
    }
    if let Some(started) = &runtime.started_at {
        status["startTime"] = json!(started);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_replaces_the_image_binary_and_args_follow() {
        let binary = Path::new("/opt/images/mcp-example");
        let plain = json!({"name": "server"});
        assert_eq!(program(binary, &plain), (binary.to_path_buf(), vec![]));
        let args = json!({"name": "server", "args": ["--stdio"]});
        assert_eq!(
            program(binary, &args),
            (binary.to_path_buf(), vec!["--stdio".to_string()])
        );
        let both = json!({"name": "server", "command": ["/bin/sh", "-c"], "args": ["echo hi"]});
        assert_eq!(
            program(binary, &both),
            (
                PathBuf::from("/bin/sh"),
                vec!["-c".to_string(), "echo hi".to_string()]
            )
        );
        let looked_up = program(binary, &json!({"command": ["sh"]})).0;
        assert!(
            looked_up.is_absolute() && looked_up.ends_with("sh"),
            "{looked_up:?}"
        );
    }

    #[test]
    fn templates_become_pods_with_controller_labels() {
        let sts = json!({"metadata": {"name": "demo"}, "spec": {"serviceName": "demo-service",
            "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "s"}]}}}});
        let pod = pod_from_template(&sts, "demo", "uid-1", 1, "demo-abc");
        assert_eq!(pod["metadata"]["name"], "demo-1");
        assert_eq!(pod["metadata"]["labels"]["app"], "demo");
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            "demo-abc"
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(pod["spec"]["subdomain"], "demo-service");
        assert_eq!(ordinal("demo", "demo-1"), Some(1));
        assert_ne!(
            revision_hash(&json!({"a": 1})),
            revision_hash(&json!({"a": 2}))
        );
    }
}
