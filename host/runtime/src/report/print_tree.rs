//! The live tree as text, drawn as OTP's `print_tree` draws a supervision
//! tree: one node a line, box-drawing lines from each supervisor to its
//! children, and, on a terminal, colours for the states a reader scans for
//! (a restarting or stopped child, a child that has restarted).

use super::NodeReport;
use crate::vocab::ChildStatus;

/// Whether the text carries ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Plain text (a pipe, a file, `NO_COLOR`).
    Off,
    /// ANSI escapes for a terminal.
    On,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";

impl Colour {
    /// `text` in `style`, or as it is without colour.
    fn paint(self, style: &str, text: &str) -> String {
        match self {
            Colour::Off => text.to_string(),
            Colour::On => format!("{style}{text}{RESET}"),
        }
    }
}

/// `report` and its subtree, one node a line.
pub fn render(report: &NodeReport, colour: Colour) -> String {
    let mut out = String::new();
    line(report, colour, &mut out);
    children(report, "", colour, &mut out);
    out
}

fn children(report: &NodeReport, prefix: &str, colour: Colour, out: &mut String) {
    let count = report.children.len();
    for (i, child) in report.children.iter().enumerate() {
        let last = i + 1 == count;
        let (branch, rest) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        out.push_str(&colour.paint(DIM, &format!("{prefix}{branch}")));
        line(child, colour, out);
        children(child, &format!("{prefix}{rest}"), colour, out);
    }
}

/// One node: its name, what it is, and its state.
fn line(node: &NodeReport, colour: Colour, out: &mut String) {
    let name = crate::vocab::last_name(&node.path);
    let (name, what) = match (&node.strategy, &node.component) {
        (Some(strategy), _) => (
            colour.paint(BOLD, name),
            colour.paint(CYAN, &format!("{strategy} supervisor")),
        ),
        (_, Some(component)) => (
            name.to_string(),
            match &node.version {
                Some(version) => format!("{component}@{version}"),
                None => component.clone(),
            },
        ),
        _ => (name.to_string(), node.kind.clone()),
    };
    let state = match node.state {
        ChildStatus::Running => colour.paint(GREEN, "running"),
        ChildStatus::Restarting => colour.paint(YELLOW, "restarting"),
        ChildStatus::Stopped => colour.paint(RED, "stopped"),
    };
    let restarts = format!("restarts {}", node.restarts);
    let restarts = if node.restarts > 0 {
        colour.paint(YELLOW, &restarts)
    } else {
        restarts
    };
    out.push_str(&format!(
        "{name}  {what}, {}, {state}, generation {}, {restarts}\n",
        node.restart, node.generation
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::RestartType;

    fn node(path: &str, strategy: Option<&str>, children: Vec<NodeReport>) -> NodeReport {
        NodeReport {
            path: path.to_string(),
            kind: if strategy.is_some() {
                "supervisor"
            } else {
                "worker"
            }
            .to_string(),
            component: strategy.is_none().then(|| "probe".to_string()),
            version: strategy.is_none().then(|| "abc".to_string()),
            file: None,
            strategy: strategy.map(str::to_string),
            restart: RestartType::Permanent,
            state: ChildStatus::Running,
            generation: 1,
            restarts: 0,
            messages: None,
            memory: None,
            mailbox: None,
            intensity: None,
            children,
        }
    }

    fn shop() -> NodeReport {
        let mut ledger = node("shop/payments/ledger", None, vec![]);
        ledger.generation = 3;
        ledger.restarts = 2;
        let mut gateway = node("shop/payments/gateway", None, vec![]);
        gateway.state = ChildStatus::Restarting;
        node(
            "shop",
            Some("one_for_one"),
            vec![
                node("shop/payments", Some("one_for_all"), vec![ledger, gateway]),
                node("shop/frontdesk", None, vec![]),
            ],
        )
    }

    #[test]
    fn the_tree_is_drawn_with_box_lines_and_names_as_print_tree_draws_it() {
        assert_eq!(
            render(&shop(), Colour::Off),
            "shop  one_for_one supervisor, permanent, running, generation 1, restarts 0\n\
             ├── payments  one_for_all supervisor, permanent, running, generation 1, restarts 0\n\
             │   ├── ledger  probe@abc, permanent, running, generation 3, restarts 2\n\
             │   └── gateway  probe@abc, permanent, restarting, generation 1, restarts 0\n\
             └── frontdesk  probe@abc, permanent, running, generation 1, restarts 0\n"
        );
    }

    #[test]
    fn colours_mark_states_and_restarts_and_strip_to_the_plain_text() {
        let coloured = render(&shop(), Colour::On);
        assert!(coloured.contains(&format!("{YELLOW}restarting{RESET}")));
        assert!(coloured.contains(&format!("{YELLOW}restarts 2{RESET}")));
        assert!(coloured.contains(&format!("{GREEN}running{RESET}")));
        assert!(coloured.contains(&format!("{BOLD}payments{RESET}")));
        let stripped = strip_ansi(&coloured);
        assert_eq!(stripped, render(&shop(), Colour::Off));
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
