//! Choosing an engine for a job: among the engines that carry every label it asks for, are up,
//! not drained and below their `max_jobs`, the one holding the repository's cache, else one that
//! has the image, else the least loaded (by share of its `max_jobs`), else the first configured.

/// One engine as placement sees it.
#[derive(Debug, Clone)]
pub(super) struct Candidate<'a> {
    pub name: &'a str,
    pub labels: &'a [String],
    pub up: bool,
    pub drained: bool,
    pub placed: usize,
    pub max_jobs: usize,
    pub has_image: bool,
    pub holds_cache: bool,
}

impl Candidate<'_> {
    fn matches(&self, runs_on: &[String]) -> bool {
        runs_on.iter().all(|l| self.labels.contains(l))
    }

    fn usable(&self) -> bool {
        self.up && !self.drained && self.placed < self.max_jobs
    }
}

/// What placement decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Choice {
    /// The index of the engine.
    Engine(usize),
    /// Engines match but none can take it now: why, for the job's log.
    Wait(String),
    /// No engine carries the labels: never.
    Never(String),
}

/// Decides where a job asking for `runs_on` goes.
pub(super) fn choose(engines: &[Candidate<'_>], runs_on: &[String]) -> Choice {
    let matching: Vec<(usize, &Candidate<'_>)> = engines
        .iter()
        .enumerate()
        .filter(|(_, c)| c.matches(runs_on))
        .collect();
    if matching.is_empty() {
        let have: Vec<String> = engines
            .iter()
            .map(|c| format!("{} [{}]", c.name, c.labels.join(", ")))
            .collect();
        return Choice::Never(format!(
            "no engine has the labels {} that \"runs_on\" asks for (engines: {})",
            runs_on.join(", "),
            have.join("; ")
        ));
    }
    let best = matching
        .iter()
        .filter(|(_, c)| c.usable())
        .min_by(|(i, a), (j, b)| {
            let load = |c: &Candidate<'_>| c.placed as f64 / c.max_jobs.max(1) as f64;
            (!a.holds_cache, !a.has_image)
                .cmp(&(!b.holds_cache, !b.has_image))
                .then(load(a).total_cmp(&load(b)))
                .then(i.cmp(j))
        });
    match best {
        Some((i, _)) => Choice::Engine(*i),
        None => {
            let why: Vec<String> = matching
                .iter()
                .map(|(_, c)| {
                    let state = if !c.up {
                        "down".to_string()
                    } else if c.drained {
                        "drained".to_string()
                    } else {
                        format!("busy ({}/{})", c.placed, c.max_jobs)
                    };
                    format!("{} {state}", c.name)
                })
                .collect();
            let labels = if runs_on.is_empty() {
                String::new()
            } else {
                format!(" with labels {}", runs_on.join(", "))
            };
            Choice::Wait(format!("waiting for an engine{labels}: {}", why.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    struct E {
        name: &'static str,
        labels: Vec<String>,
        up: bool,
        drained: bool,
        placed: usize,
        max: usize,
        image: bool,
        cache: bool,
    }

    fn e(name: &'static str, l: &[&str], placed: usize, max: usize) -> E {
        E {
            name,
            labels: labels(l),
            up: true,
            drained: false,
            placed,
            max,
            image: false,
            cache: false,
        }
    }

    fn pick(engines: &[E], runs_on: &[&str]) -> Choice {
        let c: Vec<Candidate<'_>> = engines
            .iter()
            .map(|e| Candidate {
                name: e.name,
                labels: &e.labels,
                up: e.up,
                drained: e.drained,
                placed: e.placed,
                max_jobs: e.max,
                has_image: e.image,
                holds_cache: e.cache,
            })
            .collect();
        choose(&c, &labels(runs_on))
    }

    #[test]
    fn the_least_loaded_by_share_wins_then_the_first() {
        let engines = [e("a", &[], 2, 4), e("b", &[], 1, 4), e("c", &[], 1, 2)];
        assert_eq!(pick(&engines, &[]), Choice::Engine(1));
        let engines = [e("a", &[], 0, 2), e("b", &[], 0, 2)];
        assert_eq!(pick(&engines, &[]), Choice::Engine(0));
    }

    #[test]
    fn labels_must_all_be_there() {
        let engines = [e("a", &["amd64"], 0, 2), e("b", &["arm64", "big"], 1, 2)];
        assert_eq!(pick(&engines, &["arm64"]), Choice::Engine(1));
        assert_eq!(pick(&engines, &["arm64", "big"]), Choice::Engine(1));
        let never = pick(&engines, &["arm64", "gpu"]);
        assert_eq!(
            never,
            Choice::Never(
                "no engine has the labels arm64, gpu that \"runs_on\" asks for (engines: a \
                 [amd64]; b [arm64, big])"
                    .into()
            )
        );
    }

    #[test]
    fn cache_then_image_come_before_load() {
        let mut engines = [e("a", &[], 0, 4), e("b", &[], 3, 4), e("c", &[], 2, 4)];
        engines[2].image = true;
        assert_eq!(pick(&engines, &[]), Choice::Engine(2));
        engines[1].cache = true;
        assert_eq!(pick(&engines, &[]), Choice::Engine(1));
        // A full engine is not a candidate, cache or not.
        engines[1].placed = 4;
        assert_eq!(pick(&engines, &[]), Choice::Engine(2));
    }

    #[test]
    fn down_drained_and_full_engines_make_a_job_wait_saying_why() {
        let mut engines = [
            e("a", &["x"], 2, 2),
            e("b", &["x"], 0, 2),
            e("c", &["x"], 0, 1),
        ];
        engines[1].up = false;
        engines[2].drained = true;
        assert_eq!(
            pick(&engines, &["x"]),
            Choice::Wait(
                "waiting for an engine with labels x: a busy (2/2), b down, c drained".into()
            )
        );
        engines[2].drained = false;
        assert_eq!(pick(&engines, &["x"]), Choice::Engine(2));
    }
}
