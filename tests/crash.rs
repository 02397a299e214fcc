//! Crash safety and exclusion of the writer, through the real binary (issue 10).
//!
//! `issue_10_sigkill_leaves_old_or_new_tree`: a large output tree (spec A) is replaced by the
//! output of spec B, and `manifold compile` is SIGKILLed, many times. After each kill the
//! directory holds either the complete old tree and no journal, or a journal that the next run
//! rolls forward: `manifold compile B --check` then exits 0 and the directory holds exactly the
//! new tree. Either way `--check` agrees with what is on disk.
//!
//! Where the kills land is not left to luck (a fixed delay mostly lands in the compilation
//! itself on a loaded machine, and the write window is a fraction of the run). The test watches
//! the process from outside, with no hook in manifold: the moment `.manifold/staging` appears
//! (the staging phase) and the moment any file or directory of the old tree changes (the first
//! visible change of the output). Three uninterrupted runs calibrate how long each phase
//! takes on this machine, now; then the kills cycle through four placements:
//!
//! - `anywhere`: a uniform delay over the whole run (start-up, compilation, staging, write);
//! - `staging`: a uniform delay over the staging phase, from the staging area's appearance;
//! - `write`: a uniform delay over the rest of the run, from the first visible change;
//! - `first-change`: at once when the first change is seen.
//!
//! The last two land inside the replacement itself, whatever the machine's load, so the test
//! keeps killing (up to three times the iterations, within five minutes) until at least
//! [`WANTED`] kills left the old tree and [`WANTED`] left a journal, and fails if none did.
//!
//! The checker has teeth: `issue_10_kill_harness_catches_a_non_atomic_writer` runs the same
//! kills against a writer that overwrites files in place (this test binary itself, re-run as
//! [`naive_writer`]) and must see a mixed tree.
//!
//! `MANIFOLD_CRASH_ITERATIONS` (default 30) sets the number of kills; `MANIFOLD_CRASH_SEED`
//! replays the delays (the seed is printed).

mod generated;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use manifold::output::{self, Tree};

const BIN: &str = env!("CARGO_BIN_EXE_manifold");
/// Services in the generated specs: about 550 files per tree.
const SERVICES: usize = 70;
/// Kills wanted in each of the two interesting outcomes: before the journal, inside it.
const WANTED: usize = 3;
/// The most time the kill loop may take after its minimum number of iterations.
const BUDGET: Duration = Duration::from_secs(300);

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform delay in `0..=limit`.
    fn delay(&mut self, limit: Duration) -> Duration {
        Duration::from_micros(self.next() % (limit.as_micros() as u64 + 1))
    }
}

fn compile(spec: &Path, out: &Path, check: bool) -> Output {
    let mut command = Command::new(BIN);
    command.arg("compile").arg(spec).arg("--out").arg(out);
    if check {
        command.arg("--check");
    }
    command.env("NO_COLOR", "1").output().expect("run manifold")
}

fn spawn_compile(spec: &Path, out: &Path) -> Child {
    Command::new(BIN)
        .arg("compile")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start manifold")
}

struct Fixture {
    dir: tempfile::TempDir,
    out: PathBuf,
    spec_a: PathBuf,
    spec_b: PathBuf,
    tree_a: Tree,
    tree_b: Tree,
}

fn fixture() -> Fixture {
    // On the target's disk rather than a tmpfs, so that fsync costs what it costs for users.
    let dir = tempfile::Builder::new()
        .prefix("crash-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    let (text_a, text_b) = (generated::spec(SERVICES, 1), generated::spec(SERVICES, 2));
    let spec_a = dir.path().join("a.kdl");
    let spec_b = dir.path().join("b.kdl");
    fs::write(&spec_a, &text_a).unwrap();
    fs::write(&spec_b, &text_b).unwrap();
    // named as the binary names them (the path given), which generated headers mention
    let tree_a = generated::tree(&spec_a.display().to_string(), &text_a);
    let tree_b = generated::tree(&spec_b.display().to_string(), &text_b);
    assert_ne!(tree_a, tree_b);
    Fixture {
        out: dir.path().join("out"),
        dir,
        spec_a,
        spec_b,
        tree_a,
        tree_b,
    }
}

/// What identifies a file or directory's current version.
type Stamp = (u64, u64, i64, i64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    fs::symlink_metadata(path).ok().map(|meta| {
        (
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        )
    })
}

/// The files and directories of an output tree (not `.manifold/`), as they are now: any
/// replacement, deletion, in-place write or new entry changes one of their stamps.
struct Watch(Vec<(PathBuf, Option<Stamp>)>);

impl Watch {
    fn new(out: &Path, tree: &Tree) -> Watch {
        let mut paths = vec![out.to_path_buf()];
        for path in tree.files().keys() {
            let mut dir = String::new();
            for part in path.split('/') {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(part);
                paths.push(out.join(&dir));
            }
        }
        paths.sort();
        paths.dedup();
        Watch(
            paths
                .into_iter()
                .map(|path| {
                    let now = stamp(&path);
                    (path, now)
                })
                .collect(),
        )
    }

    fn changed(&self) -> bool {
        self.0.iter().any(|(path, then)| stamp(path) != *then)
    }
}

/// When, after the start, an uninterrupted run showed its phases.
#[derive(Debug, Clone, Copy, Default)]
struct Timeline {
    staging: Option<Duration>,
    first_change: Option<Duration>,
    exit: Duration,
}

/// Where a kill lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Placement {
    Anywhere,
    Staging,
    Write,
    FirstChange,
}

const PLACEMENTS: [Placement; 4] = [
    Placement::Anywhere,
    Placement::Staging,
    Placement::Write,
    Placement::FirstChange,
];

/// Runs `child` (a writer replacing the tree `watch` was taken of) and follows it without
/// interfering: records when its phases became visible (`kill == None`), or SIGKILLs it at
/// `placement` after `delay` and reports whether it was still running then.
fn follow(
    mut child: Child,
    out: &Path,
    watch: &Watch,
    kill: Option<(Placement, Duration)>,
) -> (Timeline, bool) {
    let started = Instant::now();
    let staging_dir = out.join(".manifold/staging");
    let mut timeline = Timeline::default();
    let mut deadline = match kill {
        Some((Placement::Anywhere, delay)) => Some(started + delay),
        _ => None,
    };
    loop {
        if let Some(status) = child.try_wait().expect("poll the writer") {
            timeline.exit = started.elapsed();
            if kill.is_none() {
                assert!(status.success(), "an uninterrupted run failed: {status}");
            }
            return (timeline, false);
        }
        if timeline.staging.is_none() && staging_dir.exists() {
            timeline.staging = Some(started.elapsed());
            if let Some((Placement::Staging, delay)) = kill {
                deadline = Some(Instant::now() + delay);
            }
        }
        if timeline.first_change.is_none() && watch.changed() {
            timeline.first_change = Some(started.elapsed());
            match kill {
                Some((Placement::Write | Placement::FirstChange, delay)) => {
                    deadline = Some(Instant::now() + delay);
                }
                // the write began before the staging delay ran out: kill now, in the write
                Some((Placement::Staging, _)) => deadline = Some(Instant::now()),
                _ => {}
            }
        }
        if deadline.is_some_and(|at| Instant::now() >= at) {
            let _ = child.kill(); // SIGKILL; it may have exited just now
            let status = child.wait().expect("reap the writer");
            timeline.exit = started.elapsed();
            return (timeline, status.code().is_none());
        }
        // a short pause: on a small machine a spinning watcher would slow the writer down
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// How the output directory was left.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The complete old tree, no journal.
    Old,
    /// A journal, for the next run to roll forward.
    Journal,
    /// The complete new tree, no journal.
    New,
    /// Neither tree and no journal: a broken write.
    Mixed(String),
}

fn outcome(out: &Path, old: &Tree, new: &Tree) -> Outcome {
    let none = BTreeMap::new();
    if out.join(".manifold/journal.json").exists() {
        Outcome::Journal
    } else if generated::holds(out, old, &none) {
        Outcome::Old
    } else if generated::holds(out, new, &none) {
        Outcome::New
    } else {
        Outcome::Mixed(format!(
            "vs old: {}; vs new: {}",
            generated::describe(out, old),
            generated::describe(out, new)
        ))
    }
}

/// The slowest of three uninterrupted replacements of A by the writer `spawn` starts.
fn calibrate(fx: &Fixture, spawn: &dyn Fn() -> Child) -> Timeline {
    let mut slowest = Timeline::default();
    for _ in 0..3 {
        output::write(&fx.tree_a, &fx.out).expect("write tree A");
        let watch = Watch::new(&fx.out, &fx.tree_a);
        let (timeline, _) = follow(spawn(), &fx.out, &watch, None);
        assert_eq!(outcome(&fx.out, &fx.tree_a, &fx.tree_b), Outcome::New);
        let later = |a: Option<Duration>, b: Option<Duration>| a.max(b);
        slowest = Timeline {
            staging: later(slowest.staging, timeline.staging),
            first_change: later(slowest.first_change, timeline.first_change),
            exit: slowest.exit.max(timeline.exit),
        };
    }
    slowest
}

/// The delay after `placement`'s trigger, uniform over the phase it starts.
fn delay(rng: &mut Rng, placement: Placement, timeline: &Timeline) -> Duration {
    let change = timeline.first_change.unwrap_or(timeline.exit);
    match placement {
        Placement::Anywhere => rng.delay(timeline.exit),
        Placement::Staging => {
            rng.delay(change.saturating_sub(timeline.staging.unwrap_or_default()))
        }
        Placement::Write => rng.delay(timeline.exit.saturating_sub(change)),
        Placement::FirstChange => Duration::ZERO,
    }
}

fn seed() -> u64 {
    let seed = std::env::var("MANIFOLD_CRASH_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("MANIFOLD_CRASH_SEED={seed}");
    seed
}

#[test]
fn issue_10_sigkill_leaves_old_or_new_tree() {
    let fx = fixture();
    let iterations: usize = std::env::var("MANIFOLD_CRASH_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(30);
    let mut rng = Rng(seed());
    let spawn = || spawn_compile(&fx.spec_b, &fx.out);
    let timeline = calibrate(&fx, &spawn);
    eprintln!(
        "uninterrupted A → B (slowest of 3): staging seen after {:?}, first change after {:?}, exit after {:?}",
        timeline.staging, timeline.first_change, timeline.exit
    );

    let started = Instant::now();
    let mut tally: BTreeMap<(Placement, &str), usize> = BTreeMap::new();
    let (mut old, mut journal, mut new) = (0, 0, 0);
    let mut iteration = 0;
    while iteration < iterations
        || ((old < WANTED || journal < WANTED)
            && iteration < 3 * iterations
            && started.elapsed() < BUDGET)
    {
        // The complete old tree (the writer itself restores it, journal-free).
        output::write(&fx.tree_a, &fx.out).expect("restore tree A");
        assert!(generated::holds(&fx.out, &fx.tree_a, &BTreeMap::new()));
        let watch = Watch::new(&fx.out, &fx.tree_a);
        let placement = PLACEMENTS[iteration % PLACEMENTS.len()];
        let delay = delay(&mut rng, placement, &timeline);
        let (seen, killed) = follow(spawn(), &fx.out, &watch, Some((placement, delay)));
        let context = format!(
            "iteration {iteration}: {placement:?} + {delay:?}, {} after {:?}",
            if killed { "killed" } else { "exited" },
            seen.exit
        );
        let found = outcome(&fx.out, &fx.tree_a, &fx.tree_b);
        let name = match &found {
            Outcome::Old => "old",
            Outcome::Journal => "journal",
            Outcome::New => "new",
            Outcome::Mixed(_) => "mixed",
        };
        *tally.entry((placement, name)).or_default() += 1;
        match found {
            Outcome::Old => {
                old += 1;
                // --check agrees: stale against B, current against A
                assert_eq!(
                    compile(&fx.spec_b, &fx.out, true).status.code(),
                    Some(1),
                    "{context}"
                );
                assert_eq!(
                    compile(&fx.spec_a, &fx.out, true).status.code(),
                    Some(0),
                    "{context}"
                );
            }
            Outcome::New => {
                new += 1;
                assert_eq!(
                    compile(&fx.spec_b, &fx.out, true).status.code(),
                    Some(0),
                    "{context}"
                );
            }
            Outcome::Journal => {
                journal += 1;
                let check = compile(&fx.spec_b, &fx.out, true);
                assert_eq!(
                    check.status.code(),
                    Some(0),
                    "{context}: --check did not complete the interrupted write: {}{}",
                    String::from_utf8_lossy(&check.stdout),
                    String::from_utf8_lossy(&check.stderr)
                );
                assert!(
                    generated::holds(&fx.out, &fx.tree_b, &BTreeMap::new()),
                    "{context}: after the roll-forward: {}",
                    generated::describe(&fx.out, &fx.tree_b)
                );
                assert!(!fx.out.join(".manifold/journal.json").exists(), "{context}");
            }
            Outcome::Mixed(description) => panic!(
                "{context}: neither the old nor the new tree, and no journal to finish it ({description})"
            ),
        }
        iteration += 1;
    }
    eprintln!(
        "{iteration} kills in {:?}: {old} left the old tree, {journal} a journal that --check rolled forward, {new} the new tree; by placement: {tally:?}",
        started.elapsed()
    );
    // The kills must have hit both sides of the switch, or the test proves nothing.
    assert!(journal > 0, "no kill landed inside the write ({tally:?})");
    assert!(old > 0, "no kill landed before the write ({tally:?})");
}

const NAIVE_SPEC: &str = "MANIFOLD_CRASH_NAIVE_SPEC";
const NAIVE_OUT: &str = "MANIFOLD_CRASH_NAIVE_OUT";

/// Not a test: the broken writer of `issue_10_kill_harness_catches_a_non_atomic_writer`,
/// run in a process of its own (this test binary, re-run with the two variables set, which
/// nothing else sets). Compiles the spec and writes its tree over the output directory the
/// naive way: deletes the files the tree no longer has, overwrites every file in place, then
/// the manifest. Without the variables it does nothing.
#[test]
fn naive_writer() {
    let (Some(spec), Some(out)) = (std::env::var_os(NAIVE_SPEC), std::env::var_os(NAIVE_OUT))
    else {
        return;
    };
    let (spec, out) = (PathBuf::from(spec), PathBuf::from(out));
    let text = fs::read_to_string(&spec).expect("read the spec");
    let tree = generated::tree(&spec.display().to_string(), &text);
    for path in generated::read_outputs(&out).keys() {
        if tree.get(path).is_none() {
            fs::remove_file(out.join(path)).expect("remove a stale file");
        }
    }
    for (path, bytes) in tree.files() {
        let target = out.join(path);
        fs::create_dir_all(target.parent().unwrap()).expect("create a directory");
        fs::write(target, bytes).expect("write a file");
    }
    let manifest = output::Manifest::from_tree(&tree).to_bytes();
    fs::write(out.join(output::MANIFEST_PATH), manifest).expect("write the manifest");
}

#[test]
fn issue_10_kill_harness_catches_a_non_atomic_writer() {
    let fx = fixture();
    let mut rng = Rng(seed());
    let spawn = || {
        Command::new(std::env::current_exe().expect("this test binary"))
            .args(["naive_writer", "--exact", "--test-threads=1"])
            .env(NAIVE_SPEC, &fx.spec_b)
            .env(NAIVE_OUT, &fx.out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the naive writer")
    };
    // Uninterrupted, the naive writer does produce the new tree, so a mix can only be its kill.
    let timeline = calibrate(&fx, &spawn);
    for iteration in 0..40 {
        fs::remove_dir_all(&fx.out).expect("clear the output");
        output::write(&fx.tree_a, &fx.out).expect("write tree A");
        let watch = Watch::new(&fx.out, &fx.tree_a);
        let placement = [Placement::FirstChange, Placement::Write][iteration % 2];
        let delay = delay(&mut rng, placement, &timeline);
        let (_, killed) = follow(spawn(), &fx.out, &watch, Some((placement, delay)));
        if let Outcome::Mixed(description) = outcome(&fx.out, &fx.tree_a, &fx.tree_b) {
            assert!(killed);
            eprintln!(
                "kill {iteration} ({placement:?} + {delay:?}) left a mixed tree: {description}"
            );
            return;
        }
    }
    panic!(
        "40 kills of a writer that overwrites files in place never left a mixed tree: the kills do not reach the write ({timeline:?})"
    );
}

#[test]
fn issue_10_concurrent_compiles_lock_and_do_not_corrupt() {
    let fx = fixture();
    let none = BTreeMap::new();
    output::write(&fx.tree_a, &fx.out).expect("write tree A");

    // Deterministic: a held lock makes a compile fail at once, with the lock error, unchanged.
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fx.out.join(".manifold/lock"))
        .expect("open the lock file");
    lock.try_lock().expect("take the lock");
    let refused = compile(&fx.spec_b, &fx.out, false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another manifold process is writing"),
        "{stderr}"
    );
    assert!(generated::holds(&fx.out, &fx.tree_a, &none));
    let checked = compile(&fx.spec_a, &fx.out, true);
    assert_eq!(
        checked.status.code(),
        Some(1),
        "--check must not read under a writer's lock"
    );
    drop(lock);

    // Real processes at once (A and B into the same directory): whatever the order, each
    // either succeeds or fails with the lock error, and the tree is one of the two, complete.
    let mut saw_lock_error = false;
    for attempt in 0..20 {
        output::write(&fx.tree_a, &fx.out).expect("restore tree A");
        let spawn = |spec: &Path| {
            Command::new(BIN)
                .arg("compile")
                .arg(spec)
                .arg("--out")
                .arg(&fx.out)
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start manifold")
        };
        // B replaces A, A would leave it alone: B goes first. Even attempts start A once B is
        // seen staging (B holds the lock from before then until it exits); odd ones at once.
        let mut first = spawn(&fx.spec_b);
        if attempt % 2 == 0 {
            let started = Instant::now();
            while !fx.out.join(".manifold/staging").exists()
                && first.try_wait().expect("poll manifold").is_none()
                && started.elapsed() < Duration::from_secs(60)
            {
                std::thread::yield_now();
            }
        }
        // Three more, alternating A and B: a write takes a fraction of a compile now, so two
        // processes alone may never meet on a loaded machine; four on two cores do.
        let others = [&fx.spec_a, &fx.spec_b, &fx.spec_a].map(|spec| spawn(spec));
        let results: Vec<_> = std::iter::once(first)
            .chain(others)
            .map(|child| child.wait_with_output().unwrap())
            .collect();
        for result in &results {
            let stderr = String::from_utf8_lossy(&result.stderr);
            match result.status.code() {
                Some(0) => {}
                Some(1) if stderr.contains("another manifold process is writing") => {
                    saw_lock_error = true;
                }
                other => panic!("attempt {attempt}: exit {other:?}: {stderr}"),
            }
        }
        assert!(
            results.iter().any(|r| r.status.success()),
            "attempt {attempt}: both failed"
        );
        assert!(!fx.out.join(".manifold/journal.json").exists());
        let a = generated::holds(&fx.out, &fx.tree_a, &none);
        let b = generated::holds(&fx.out, &fx.tree_b, &none);
        assert!(
            a || b,
            "attempt {attempt}: a mixed tree (vs A: {}; vs B: {})",
            generated::describe(&fx.out, &fx.tree_a),
            generated::describe(&fx.out, &fx.tree_b)
        );
        let spec = if a { &fx.spec_a } else { &fx.spec_b };
        assert_eq!(compile(spec, &fx.out, true).status.code(), Some(0));
        if saw_lock_error && attempt >= 1 {
            break;
        }
    }
    assert!(
        saw_lock_error,
        "in 20 attempts the two compiles never overlapped"
    );
    drop(fx.dir);
}
