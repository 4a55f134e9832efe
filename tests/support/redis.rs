//! A real Redis server for tests, from the machine's packages (`scripts/test.sh`
//! installs `redis-server`): one per test, on a Unix socket in a temporary directory
//! (TCP off), without persistence; killed when dropped. It can be killed and started
//! again on the same socket, as an outage.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Redis {
    dir: tempfile::TempDir,
    server: Option<Child>,
    /// `requirepass`, when it has one.
    password: Option<String>,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with_password(None)
    }

    pub fn start_with_password(password: Option<&str>) -> Redis {
        let password = password.map(str::to_string);
        let mut redis = Redis { dir: tempfile::tempdir().unwrap(), server: None, password };
        redis.start_again();
        redis
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// What `--redis` takes (with the password, when it has one).
    pub fn url(&self) -> String {
        self.url_with_password(self.password.as_deref())
    }

    pub fn url_with_password(&self, password: Option<&str>) -> String {
        let query = password.map(|password| format!("?pass={password}")).unwrap_or_default();
        format!("redis+unix://{}{query}", self.socket().display())
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts it (again) on the same socket and waits until it answers.
    pub fn start_again(&mut self) {
        let socket = self.socket();
        let server = Command::new("redis-server")
            .args(["--port", "0", "--unixsocketperm", "700", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .args(self.password.iter().flat_map(|password| ["--requirepass", password.as_str()]))
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs Debian's redis-server)");
        self.server = Some(server);
        for _ in 0..500 {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start on {}", socket.display());
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// Redis' own count of subscribers to `topic` (`PUBSUB NUMSUB`).
    pub async fn subscribers(&self, topic: &str) -> usize {
        let (_, count): (String, usize) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(topic).query_async(&mut self.connection().await).await.unwrap();
        count
    }

    /// Waits until `topic` has `count` subscribers; panics after 10 s.
    pub async fn await_subscribers(&self, topic: &str, count: usize) {
        for _ in 0..1_000 {
            if self.subscribers(topic).await == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{topic} has {} subscribers, not {count}", self.subscribers(topic).await);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy to a Redis socket, standing for a network between an instance and
/// Redis: what the instance sends arrives `delay` late, and `freeze` stops everything
/// Redis sends from arriving while the connection stays open (a subscription that
/// silently stops receiving).
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    /// Connections numbered below it are frozen.
    frozen_below: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    opened: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(redis: &Redis, delay: Duration) -> Proxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen_below, opened) =
            (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
        let socket = redis.socket();
        let (frozen_below_, opened_) = (frozen_below.clone(), opened.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let number = opened_.fetch_add(1, Ordering::AcqRel);
                let _ = client.set_nodelay(true);
                let Ok(server) = tokio::net::UnixStream::connect(&socket).await else { continue };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                // Instance to Redis, late by `delay`, in order.
                let (late, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 << 10];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        let _ = late.send((tokio::time::Instant::now() + delay, buf[..n].to_vec()));
                    }
                });
                tokio::spawn(async move {
                    while let Some((at, bytes)) = due.recv().await {
                        tokio::time::sleep_until(at).await;
                        if server_write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
                // Redis to the instance, swallowed while frozen.
                let frozen_below = frozen_below_.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 << 10];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        let frozen = number < frozen_below.load(Ordering::Acquire);
                        if !frozen && client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Proxy { addr, frozen_below, opened, task }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Freezes the connections open now; those opened later are not.
    pub fn freeze(&self) {
        let opened = self.opened.load(std::sync::atomic::Ordering::Acquire);
        self.frozen_below.store(opened, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
