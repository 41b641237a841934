//! Task dependencies form a directed graph within one project; a change that
//! would close a cycle is refused.

use crate::ids::TaskId;
use std::collections::{HashMap, HashSet};

/// If making `task` depend on each of `depends_on` (replacing its current
/// dependencies) would create a cycle in the graph whose other edges are
/// `edges` (`(task, depends_on)` pairs), returns the cycle as a path that
/// starts and ends at `task`.
pub fn find_cycle(edges: &[(TaskId, TaskId)], task: TaskId, depends_on: &[TaskId]) -> Option<Vec<TaskId>> {
    let mut graph: HashMap<TaskId, Vec<TaskId>> = HashMap::new();
    for &(from, to) in edges.iter().filter(|(from, _)| *from != task) {
        graph.entry(from).or_default().push(to);
    }
    graph.insert(task, depends_on.to_vec());

    // Depth-first search from `task`, looking for a path back to it.
    let mut stack: Vec<(TaskId, usize)> = vec![(task, 0)];
    let mut path = vec![task];
    let mut seen: HashSet<TaskId> = HashSet::new();
    while let Some((node, next)) = stack.pop() {
        let successors = graph.get(&node).map_or(&[][..], Vec::as_slice);
        if let Some(&succ) = successors.get(next) {
            stack.push((node, next + 1));
            if succ == task {
                path.push(task);
                return Some(path);
            }
            if seen.insert(succ) {
                stack.push((succ, 0));
                path.push(succ);
            }
        } else {
            path.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<TaskId> {
        (0..n).map(|_| TaskId::new()).collect()
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let t = ids(1);
        assert_eq!(find_cycle(&[], t[0], &[t[0]]), Some(vec![t[0], t[0]]));
    }

    #[test]
    fn detects_long_cycle_and_names_it() {
        let t = ids(4);
        // 1 -> 2 -> 3 -> 0 ; now 0 -> 1 closes the loop.
        let edges = [(t[1], t[2]), (t[2], t[3]), (t[3], t[0])];
        assert_eq!(find_cycle(&edges, t[0], &[t[1]]), Some(vec![t[0], t[1], t[2], t[3], t[0]]));
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        let t = ids(4);
        let edges = [(t[1], t[3]), (t[2], t[3])];
        assert_eq!(find_cycle(&edges, t[0], &[t[1], t[2]]), None);
    }

    #[test]
    fn replacing_dependencies_can_remove_a_cycle() {
        let t = ids(2);
        // 0 -> 1 existed; 1 -> 0 would close it, unless 0's edges are being replaced.
        let edges = [(t[0], t[1])];
        assert!(find_cycle(&edges, t[1], &[t[0]]).is_some());
        assert!(find_cycle(&edges, t[0], &[]).is_none());
    }
}
