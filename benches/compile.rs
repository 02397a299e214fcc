//! End-to-end benchmark of `manifold compile` on generated specs (`manifold::synth`).
//!
//! ```sh
//! cargo bench --bench compile                      # N = 10, 100, 1000, 10000
//! cargo bench --bench compile -- --sizes 10,100 --runs 3
//! cargo bench --bench compile -- --stages          # plus an in-process time per stage
//! ```
//!
//! For every N it writes the generated spec to a scratch directory and runs the real binary
//! (`target/release/manifold`, built by `cargo bench` with the release settings) as a child
//! process: `compile SPEC --out OUT` into a new directory (cold: everything is written),
//! then again into the now current directory (no-op: nothing is rewritten, checked by comparing
//! every file's mtime before and after). Every cold run gets a directory of its own, and no
//! output is deleted until every size has been measured: ext4 skips the inodes of files deleted
//! in the last minute (five, if their inode block is still dirty) when it allocates new ones
//! (`recently_deleted` in `fs/ext4/ialloc.c`), so a run that writes 33,000 files right after
//! deleting as many spends most of its time in that scan (system time went from 2 s to 19 s
//! at N = 1,000 here), which measures the benchmark's own `rm -rf`, not manifold. Each child is
//! reaped with `wait4`, which reports its peak resident set (`ru_maxrss`) and CPU time. The
//! report gives medians (and min–max) over the runs, the throughput in Kubernetes objects per
//! second and output megabytes per second, and the growth factor between sizes (the target is
//! ≤ 11× time for 10× services). `docs/performance.md` explains the figures.
//!
//! This is a plain harness (`harness = false`) rather than criterion: what matters here is the
//! whole process (start-up, reading the spec, rendering warnings, writing tens of thousands of
//! files with fsync), its peak memory, and runs of several seconds at N = 10,000, none of
//! which an in-process statistical benchmark measures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo bench --bench compile -- [--sizes 10,100,1000,10000] [--runs R] [--noop-runs R] [--seed S] [--stages] [--work DIR] [--keep]";

struct Args {
    sizes: Vec<usize>,
    runs: Option<usize>,
    noop_runs: usize,
    seed: u64,
    stages: bool,
    work: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![10, 100, 1_000, 10_000],
        runs: None,
        noop_runs: 7,
        seed: 42,
        stages: false,
        work: None,
        keep: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                args.sizes = value("--sizes")?
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|error| format!("--sizes: {error}"))?;
            }
            "--runs" => {
                args.runs = Some(
                    value("--runs")?
                        .parse()
                        .map_err(|e| format!("--runs: {e}"))?,
                )
            }
            "--noop-runs" => {
                args.noop_runs = value("--noop-runs")?
                    .parse()
                    .map_err(|e| format!("--noop-runs: {e}"))?
            }
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--work" => args.work = Some(PathBuf::from(value("--work")?)),
            "--stages" => args.stages = true,
            "--keep" => args.keep = true,
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(args)
}

/// One run of the binary.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    /// User CPU time.
    user: Duration,
    /// System CPU time (the kernel creating, writing and renaming files, page faults).
    system: Duration,
    max_rss_kib: u64,
}

/// Runs `binary args…` with stdout and stderr discarded, and returns its wall time, CPU time
/// (user + system) and peak RSS from `wait4`. Fails when it does not exit with 0.
fn run(binary: &Path, args: &[&std::ffi::OsStr]) -> Run {
    let start = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also reports its resource usage"
    )]
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; wait4 fills it for the child we spawned, which std
    // has not reaped (we never call `wait` on `child`).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {:?} failed (status {status})",
        binary.display(),
        args
    );
    let time = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    Run {
        wall,
        user: time(usage.ru_utime),
        system: time(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Median, min and max of one measure over runs.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(runs: &[Run], measure: impl Fn(&Run) -> f64) -> Spread {
    let values: Vec<f64> = runs.iter().map(measure).collect();
    Spread {
        median: median(values.clone()),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(0.0, f64::max),
    }
}

/// What one output tree holds.
struct Size {
    files: usize,
    bytes: u64,
    objects: usize,
    targets: usize,
}

/// Counts the files and bytes of the tree under `out` (the manifest included) and the
/// Kubernetes objects: YAML documents with a top-level `kind` (Kustomizations excluded).
fn measure_tree(out: &Path) -> Size {
    let mut size = Size {
        files: 0,
        bytes: 0,
        objects: 0,
        targets: 0,
    };
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the output") {
            let entry = entry.expect("read the output");
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read an output file");
            size.files += 1;
            size.bytes += bytes.len() as u64;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "kustomization.yaml" {
                let relative = path.strip_prefix(out).unwrap_or(&path);
                if relative.starts_with("kubernetes/overlays") && relative.components().count() == 5
                {
                    size.targets += 1;
                }
                continue;
            }
            if name.ends_with(".yaml") {
                let text = String::from_utf8_lossy(&bytes);
                size.objects += text
                    .lines()
                    .filter(|line| line.starts_with("kind: "))
                    .count();
            }
        }
    }
    size
}

/// The modification time of every file under `out` but the lock (which `compile` opens).
fn mtimes(out: &Path) -> std::collections::BTreeMap<PathBuf, std::time::SystemTime> {
    let mut times = std::collections::BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the output") {
            let entry = entry.expect("read the output");
            let path = entry.path();
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(path);
            } else if !path.ends_with(".manifold/lock") {
                times.insert(path, meta.modified().expect("mtime"));
            }
        }
    }
    times
}

/// In-process time of each pipeline stage (the same calls as `pipeline::compile_with`).
fn stages(spec: &str, out: &Path) -> Vec<(&'static str, Duration)> {
    use manifold::source::Sources;
    let mut times = Vec::new();
    let mut clock = Instant::now();
    let lap =
        |name: &'static str, times: &mut Vec<(&'static str, Duration)>, clock: &mut Instant| {
            times.push((name, clock.elapsed()));
            *clock = Instant::now();
        };
    let mut sources = Sources::new();
    let file = sources.add("platform.kdl", spec);
    let profiles = manifold::profiles::load(&mut sources).expect("built-in profiles load");
    lap("load profiles", &mut times, &mut clock);
    let (form, diagnostics) = manifold::spec::parse(&sources, file);
    let form = form.expect("the generated spec parses");
    assert!(!manifold::diagnostic::has_errors(&diagnostics));
    lap("parse + convert (KDL → JSON form)", &mut times, &mut clock);
    let (checked, diagnostics) = manifold::check::check(file, form, profiles);
    let checked = checked.expect("the generated spec passes the checks");
    assert!(!manifold::diagnostic::has_errors(&diagnostics));
    lap("schema + semantic checks", &mut times, &mut clock);
    let mut platform = manifold::lower::lower(&checked, "platform.kdl");
    lap("lower (resolve every target)", &mut times, &mut clock);
    drop(checked);
    lap("free the spec's forms", &mut times, &mut clock);
    // The emitters one by one, as `emit::emit_with` runs them (the Istio objects are built
    // and rendered once, before the model checks, which read them).
    use manifold::emit;
    let mesh = emit::istio::Mesh::build(&platform, true);
    lap("build + render istio objects", &mut times, &mut clock);
    let diagnostics = manifold::check::platform::check(&platform, file, &mesh);
    assert!(!manifold::diagnostic::has_errors(&diagnostics));
    lap(
        "model checks (mesh, scaling, terraform, argocd)",
        &mut times,
        &mut clock,
    );
    // As `compile` does: emitters never read the origin tables.
    platform.forget_origins();
    lap("free the origin tables", &mut times, &mut clock);
    let mut extras = mesh.into_files();
    extras.extend(emit::scaling::emit(&platform));
    lap(
        "emit: scaling (HPA, KEDA, VPA, PDB, NetworkPolicy)",
        &mut times,
        &mut clock,
    );
    let mut tree = manifold::output::Tree::new();
    for (path, contents) in emit::kustomize::emit(&platform, &extras) {
        tree.insert(path, contents);
    }
    for (path, contents) in extras {
        tree.insert(path, contents);
    }
    lap(
        "emit: kustomize (base, overlays, patches)",
        &mut times,
        &mut clock,
    );
    for (path, contents) in emit::argocd::emit(&platform, &tree) {
        tree.insert(path, contents);
    }
    lap("emit: argocd", &mut times, &mut clock);
    let options = emit::Options::default();
    for (path, contents) in emit::terraform::emit(&platform, &options).expect("templates") {
        tree.insert(path, contents);
    }
    lap("emit: terraform", &mut times, &mut clock);
    let readme = emit::readme::emit(&platform, &tree);
    tree.insert("README.md", readme);
    lap("emit: README", &mut times, &mut clock);
    assert_eq!(
        tree,
        emit::emit(&platform),
        "the stages build the same tree as emit()"
    );
    clock = Instant::now();
    manifold::output::write(&tree, out).expect("write the tree");
    lap("write (cold, fsync)", &mut times, &mut clock);
    manifold::output::write(&tree, out).expect("write the tree");
    lap("write (no-op)", &mut times, &mut clock);
    drop(tree);
    drop(platform);
    lap("free the model and the tree", &mut times, &mut clock);
    times
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            std::process::exit(if problem.is_empty() { 0 } else { 2 });
        }
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_manifold"));
    let scratch = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir).expect("create the work directory");
            None
        }
        None => Some(
            tempfile::Builder::new()
                .prefix("manifold-bench")
                .tempdir()
                .expect("tempdir"),
        ),
    };
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| scratch.as_ref().expect("scratch").path().to_path_buf());

    let mut report = String::new();
    let _ = writeln!(
        report,
        "manifold compile benchmark: seed {}, binary {}",
        args.seed,
        binary.display()
    );
    let _ = writeln!(report, "machine: {}", machine());
    let _ = writeln!(report);
    let _ = writeln!(
        report,
        "| N | spec KiB | files | objects | output MB | runs | cold wall median (min–max) | user CPU | system CPU | objects/s | MB/s | peak RSS | no-op median (min–max) |"
    );
    let _ = writeln!(
        report,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut untouched = Vec::new();
    let mut previous: Option<(usize, f64)> = None;
    let mut growth = Vec::new();
    let mut stage_report = String::new();
    for &n in &args.sizes {
        let dir = work.join(format!("n{n}"));
        std::fs::create_dir_all(&dir).expect("create the size directory");
        let spec = manifold::synth::generate(n, args.seed);
        let spec_path = dir.join("platform.kdl");
        std::fs::write(&spec_path, &spec).expect("write the spec");
        let runs = args.runs.unwrap_or(if n >= 10_000 { 3 } else { 5 });
        eprintln!(
            "N = {n}: {runs} cold runs, then {} no-op runs",
            args.noop_runs
        );
        let compile_into = |out: &Path| {
            run(
                &binary,
                &[
                    std::ffi::OsStr::new("compile"),
                    spec_path.as_os_str(),
                    std::ffi::OsStr::new("--out"),
                    out.as_os_str(),
                ],
            )
        };
        let mut cold = Vec::new();
        let mut out = PathBuf::new();
        for index in 0..runs {
            // A new directory each time (see the module comment on deleted inodes).
            out = dir.join(format!("out-{index}"));
            sync();
            cold.push(compile_into(&out));
        }
        let before = mtimes(&out);
        let mut noop = Vec::new();
        for _ in 0..args.noop_runs {
            noop.push(compile_into(&out));
        }
        let after = mtimes(&out);
        let rewritten = before
            .iter()
            .filter(|(path, time)| after.get(*path) != Some(time))
            .count();
        if rewritten > 0 {
            eprintln!("N = {n}: {rewritten} file(s) got a new mtime in the no-op runs");
        }
        untouched.push((n, before.len(), rewritten));
        let size = measure_tree(&out);
        let wall = spread(&cold, |r| r.wall.as_secs_f64());
        let user = spread(&cold, |r| r.user.as_secs_f64());
        let system = spread(&cold, |r| r.system.as_secs_f64());
        let rss = spread(&cold, |r| r.max_rss_kib as f64 / 1024.0);
        let idle = spread(&noop, |r| r.wall.as_secs_f64());
        let megabytes = size.bytes as f64 / 1e6;
        let _ = writeln!(
            report,
            "| {n} | {} | {} | {} | {:.1} | {runs} | {} ({}–{}) | {} | {} | {:.0} | {:.1} | {:.0} MiB | {} ({}–{}) |",
            spec.len() / 1024,
            size.files,
            size.objects,
            megabytes,
            secs(wall.median),
            secs(wall.min),
            secs(wall.max),
            secs(user.median),
            secs(system.median),
            size.objects as f64 / wall.median,
            megabytes / wall.median,
            rss.max,
            secs(idle.median),
            secs(idle.min),
            secs(idle.max),
        );
        if size.targets != 6 {
            eprintln!("note: {} overlays (expected 6)", size.targets);
        }
        if let Some((before, time)) = previous {
            growth.push(format!(
                "N {before} → {n} ({:.0}× services): {:.2}× time",
                n as f64 / before as f64,
                wall.median / time
            ));
        }
        previous = Some((n, wall.median));
        if args.stages {
            let _ = writeln!(stage_report, "\nN = {n}, in-process stages (one run):");
            let times = stages(&spec, &dir.join("out-stages"));
            let total: Duration = times.iter().map(|(_, time)| *time).sum();
            for (name, time) in times {
                let _ = writeln!(
                    stage_report,
                    "  {:<50} {:>9} {:>5.1} %",
                    name,
                    secs(time.as_secs_f64()),
                    100.0 * time.as_secs_f64() / total.as_secs_f64()
                );
            }
        }
    }
    if !args.keep {
        for &n in &args.sizes {
            let _ = std::fs::remove_dir_all(work.join(format!("n{n}")));
        }
    }
    if !growth.is_empty() {
        let _ = writeln!(
            report,
            "\nGrowth of the cold wall time (target ≤ 11× per 10×):"
        );
        for line in growth {
            let _ = writeln!(report, "  {line}");
        }
    }
    let _ = writeln!(
        report,
        "\nNo-op runs (output already current): files whose mtime changed"
    );
    for (n, files, rewritten) in untouched {
        let _ = writeln!(report, "  N {n}: {rewritten} of {files}");
    }
    report.push_str(&stage_report);
    println!("{report}");
    if args.keep {
        let kept = scratch.map_or(work, |dir| dir.keep());
        eprintln!("kept the generated specs and outputs in {}", kept.display());
    }
}

fn secs(value: f64) -> String {
    if value < 1.0 {
        format!("{:.0} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

/// Flushes dirty pages before a cold run, so one run's writeback does not land in the next.
fn sync() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// CPU model, cores and memory, from /proc (Linux).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or_else(
            || "? GiB".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1048576.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{model}, {cores} cores, {memory} RAM, load average {load} at the start")
}
