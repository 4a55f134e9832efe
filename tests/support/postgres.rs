//! A real PostgreSQL server for tests, from the machine's packages (`scripts/test.sh`
//! installs them): a fresh cluster in a temporary directory, reached on a Unix socket
//! there, so tests never collide on a port.
//!
//! A supervising shell owns the cluster: it prints the directory, then waits for its
//! standard input to close, which happens when the test process exits however it
//! exits; it then stops the server and removes the directory. As root (CI), everything
//! runs as the `postgres` user, because PostgreSQL refuses to run as root.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

const SUPERVISOR: &str = r#"
set -e
dir=$(mktemp -d /tmp/walker-host-pg.XXXXXX)
"$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
"$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -c listen_addresses= -c fsync=off -c max_connections=300" start >/dev/null
echo "$dir"
cat >/dev/null || true
"$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$dir"
"#;

pub struct Postgres {
    /// The cluster's directory: its data in `data/`, its socket in the directory itself.
    pub dir: PathBuf,
    /// Kept open for the life of the test process; closing it stops the server.
    _supervisor: Child,
    databases: AtomicUsize,
}

/// The server most tests share, each in its own database.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(Postgres::start)
}

/// PostgreSQL's programs: the newest installed version.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test.sh installs it)")
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort_by_key(|bin| bin.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    versions.pop().expect("a PostgreSQL server in /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A command of PostgreSQL's, run as `postgres` when the tests run as root (from `/`:
/// the `postgres` user may not be able to enter the test's directory).
fn pg_command(program: &str) -> Command {
    let program = bin_dir().join(program);
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.current_dir("/");
    command
}

impl Postgres {
    /// A new cluster, running.
    pub fn start() -> Postgres {
        let mut shell = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", "sh", "-c", SUPERVISOR]);
            command
        } else {
            let mut command = Command::new("sh");
            command.args(["-c", SUPERVISOR]);
            command
        };
        let mut supervisor = shell
            .current_dir("/")
            .env("BIN", bin_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting PostgreSQL");
        let mut line = String::new();
        BufReader::new(supervisor.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(!line.trim().is_empty(), "PostgreSQL did not start");
        Postgres { dir: PathBuf::from(line.trim()), _supervisor: supervisor, databases: AtomicUsize::new(0) }
    }

    /// The connection string of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("host={} user=postgres dbname={name}", self.dir.display())
    }

    /// A new empty database: its connection string.
    pub async fn database(&self) -> String {
        let name = format!("test_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name} STRATEGY FILE_COPY")).await.unwrap();
        drop(client);
        let _ = connection.await;
        self.url(&name)
    }

    /// Stops the server at once, as a crash would (connections are cut).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }

    pub fn start_again(&self) {
        let options = format!("-k {} -c listen_addresses= -c fsync=off -c max_connections=300", self.dir.display());
        self.pg_ctl(&["-l", &self.dir.join("log").to_string_lossy(), "-w", "-o", &options, "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let status = pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?}");
    }
}
