//! Observational equivalence (AlphaCode): run each passing candidate on
//! the same inputs and group the candidates whose outputs agree on every
//! one, so that the answers returned are distinct behaviours rather than
//! near-duplicate texts.
//!
//! Outputs are interned per input (each distinct output is stored once,
//! and a behaviour is a vector of small ids), so that comparing two
//! candidates is comparing integers and memory grows with the distinct
//! outputs, not with candidates × inputs; the total is bounded by
//! [`SynthesisConfig::max_output_bytes`](super::SynthesisConfig::max_output_bytes).

use std::collections::HashMap;
use std::hash::Hash;

use super::checker::{CANDIDATE_VARIABLE, CheckerError, describe_exit};
use crate::command::{CommandLimits, Exit, Invocation, ShellCommand, Stream};

/// What one candidate did on one input: the unit of comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Observation {
    /// It ran to completion and printed this.
    Output(Vec<u8>),
    /// It failed this way ("exit status 1", "timed out ...", "killed by
    /// signal 11"): two failures agree when they are described alike. What
    /// it printed is not part of it, since error messages carry addresses
    /// and times.
    Failure(String),
}

/// Runs a candidate on an input: `trellis synthesize --run CMD`.
///
/// Anything the candidate does is an [`Observation`]; [`CheckerError`] is
/// for a runner that cannot run at all. Any `FnMut(&[u8], &[u8]) ->
/// Observation` is a runner (candidate first, then the input).
pub trait Runner {
    /// What `candidate` does on `input` (the `index`-th input).
    fn run(&mut self, candidate: &[u8], input: &[u8], index: usize) -> Result<Observation, CheckerError>;
}

impl<F: FnMut(&[u8], &[u8]) -> Observation> Runner for F {
    fn run(&mut self, candidate: &[u8], input: &[u8], _index: usize) -> Result<Observation, CheckerError> {
        Ok(self(candidate, input))
    }
}

/// `sh -c COMMAND` as the runner: the candidate in a temporary file named
/// by `$TRELLIS_CANDIDATE`, the input on stdin, its index (from 0) in
/// `$TRELLIS_INPUT_INDEX`. Exit 0 gives its stdout as the output; anything
/// else a [`Observation::Failure`] that names the exit status, the signal,
/// the timeout or the output limit.
///
/// ```
/// use trellis_engine::synthesis::{CommandRunner, Observation, Runner};
///
/// let mut double = CommandRunner::new(r#"echo $(( $(cat) * $(cat "$TRELLIS_CANDIDATE") ))"#);
/// assert_eq!(double.run(b"2", b"21", 0)?, Observation::Output(b"42\n".to_vec()));
/// assert_eq!(CommandRunner::new("exit 3").run(b"", b"", 0)?, Observation::Failure("exit status 3".into()));
/// # Ok::<(), trellis_engine::synthesis::CheckerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRunner {
    pub command: ShellCommand,
}

impl CommandRunner {
    /// `command` with the default limits.
    pub fn new(command: impl Into<String>) -> CommandRunner {
        CommandRunner::with_limits(command, CommandLimits::default())
    }

    /// `command` with these limits (stderr is dropped: only stdout is
    /// compared).
    pub fn with_limits(command: impl Into<String>, limits: CommandLimits) -> CommandRunner {
        CommandRunner {
            command: ShellCommand {
                limits,
                stdout: Stream::Keep,
                stderr: Stream::Discard,
                ..ShellCommand::new(command)
            },
        }
    }
}

impl Runner for CommandRunner {
    fn run(&mut self, candidate: &[u8], input: &[u8], index: usize) -> Result<Observation, CheckerError> {
        let index = index.to_string();
        let invocation = Invocation {
            stdin: input,
            files: &[(CANDIDATE_VARIABLE, candidate)],
            env: &[("TRELLIS_INPUT_INDEX", &index)],
        };
        let run = self.command.run(&invocation)?;
        let limits = &self.command.limits;
        Ok(match run.exit {
            Exit::Code(0) => Observation::Output(run.stdout),
            exit => Observation::Failure(describe_exit(exit, limits.timeout, limits.max_stdout)),
        })
    }
}

/// Groups items by key: each group's members in the order given, groups
/// largest first, ties in the order of their first member. This is the
/// whole of the clustering rule; a key is a behaviour (or, without inputs,
/// a text).
///
/// ```
/// use trellis_engine::synthesis::group_by_key;
///
/// let groups = group_by_key([(0, "a"), (1, "b"), (2, "a"), (3, "c"), (4, "b"), (5, "a")]);
/// assert_eq!(groups, vec![("a", vec![0, 2, 5]), ("b", vec![1, 4]), ("c", vec![3])]);
/// ```
pub fn group_by_key<K: Eq + Hash>(items: impl IntoIterator<Item = (usize, K)>) -> Vec<(K, Vec<usize>)> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<(Option<K>, Vec<usize>)> = Vec::new();
    for (item, key) in items {
        match index.get(&key) {
            Some(&group) => groups[group].1.push(item),
            None => {
                index.insert(key, groups.len());
                groups.push((None, vec![item]));
            }
        }
    }
    for (key, group) in index {
        groups[group].0 = Some(key);
    }
    // A stable sort keeps first-appearance order among equal sizes.
    groups.sort_by_key(|group| std::cmp::Reverse(group.1.len()));
    groups.into_iter().filter_map(|(key, members)| key.map(|key| (key, members))).collect()
}

/// Distinct observations per input, each stored once.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: Vec<HashMap<Observation, u32>>,
    observations: Vec<Vec<Observation>>,
    /// Bytes of the distinct outputs kept.
    pub bytes: usize,
}

impl Interner {
    pub fn new(inputs: usize) -> Interner {
        Interner { ids: vec![HashMap::new(); inputs], observations: vec![Vec::new(); inputs], bytes: 0 }
    }

    /// The id of `observation` on input `input`.
    pub fn intern(&mut self, input: usize, observation: Observation) -> u32 {
        if let Some(&id) = self.ids[input].get(&observation) {
            return id;
        }
        let id = self.observations[input].len() as u32;
        self.bytes += match &observation {
            Observation::Output(bytes) => bytes.len(),
            Observation::Failure(text) => text.len(),
        };
        self.observations[input].push(observation.clone());
        self.ids[input].insert(observation, id);
        id
    }

    /// The observations of a behaviour (ids, one per input).
    pub fn behaviour(&self, ids: &[u32]) -> Vec<Observation> {
        ids.iter().zip(&self.observations).map(|(&id, seen)| seen[id as usize].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_exactly_the_items_with_equal_keys() {
        // Behaviours over three inputs; equal vectors, and only those, share
        // a group.
        let behaviours = [
            vec!["1", "2", "3"],
            vec!["1", "2", "4"],
            vec!["1", "2", "3"],
            vec!["0", "2", "3"],
            vec!["1", "2", "4"],
            vec!["1", "2", "3"],
        ];
        let groups = group_by_key(behaviours.iter().cloned().enumerate());
        assert_eq!(groups.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>(), vec![vec![0, 2, 5], vec![1, 4], vec![3]]);
        for (key, members) in &groups {
            for (item, behaviour) in behaviours.iter().enumerate() {
                assert_eq!(members.contains(&item), behaviour == key, "item {item}");
            }
        }
        assert!(group_by_key(std::iter::empty::<(usize, u8)>()).is_empty());
    }

    #[test]
    fn interning_keeps_each_distinct_output_once() {
        let mut interner = Interner::new(2);
        let a = interner.intern(0, Observation::Output(b"10".to_vec()));
        let b = interner.intern(0, Observation::Output(b"10".to_vec()));
        let c = interner.intern(1, Observation::Failure("exit status 1".into()));
        assert_eq!((a, b, c), (0, 0, 0));
        assert_eq!(interner.intern(0, Observation::Output(b"11".to_vec())), 1);
        assert_eq!(interner.bytes, 2 + 13 + 2);
        assert_eq!(
            interner.behaviour(&[1, 0]),
            vec![Observation::Output(b"11".to_vec()), Observation::Failure("exit status 1".into())]
        );
    }
}
