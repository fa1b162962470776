//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
//! directory, `pg_ctl start` on a free loopback port, stopped and deleted on drop. Needs
//! Debian's `postgresql` package (`scripts/install-postgres.sh` installs it); no running
//! service is used.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI containers) the
//! cluster runs as the `postgres` user the package creates.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the PostgreSQL programs are: `$SUANLI_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` holding `initdb`, else `PATH`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SUANLI_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A running cluster; stopped (immediate mode) and deleted on drop.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_root: bool,
    pub port: u16,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Creates and starts a cluster. `durable: false` turns off `fsync` (tests that do not
    /// crash the database itself); benchmarks keep PostgreSQL's durable defaults.
    pub fn start(durable: bool) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run scripts/install-postgres.sh",
        )?;
        let dir = tempfile::Builder::new().prefix("suanli-pg-").tempdir().map_err(|e| e.to_string())?;
        let as_root = running_as_root();
        let data = dir.path().join("data");
        if as_root {
            // The directory must belong to the user the server runs as.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("cannot give the cluster directory to the postgres user".into());
            }
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let c = Cluster { dir, bin, as_root, port };
        c.run("initdb", &["-D", path(&data), "-A", "trust", "-U", "suanli", "-E", "UTF8", "--locale=C"])?;
        let fsync = if durable { "on" } else { "off" };
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200 -c shared_buffers=128MB",
            c.dir.path().display()
        );
        let log = c.dir.path().join("server.log");
        c.run("pg_ctl", &["-D", path(&data), "-o", &opts, "-l", path(&log), "-w", "-t", "60", "start"])?;
        c.watch(&data);
        Ok(c)
    }

    /// A cluster kept in a `static` is never dropped: a small watchdog stops it (and
    /// deletes its directory) once this process has exited, however it exits.
    fn watch(&self, data: &Path) {
        let runas = if self.as_root { "runuser -u postgres -- " } else { "" };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}'{pg_ctl}' -D '{data}' -m immediate -w stop; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = data.display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().map_err(|e| format!("{}: {e}", exe.display()))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            return Err(format!(
                "{program} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// A connection string for a new, empty database `name` in this cluster.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let mut client =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).map_err(|e| e.to_string())?;
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).map_err(|e| e.to_string())?;
        Ok(self.url(name))
    }

    /// The connection string of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://suanli@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run("pg_ctl", &["-D", path(&data), "-m", "immediate", "-w", "stop"]);
    }
}
