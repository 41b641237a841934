//! The condition language of the YAML policies: its syntax tree, the
//! attribute catalog, and the type checker. [`parse`] reads one condition.

mod parse;

pub(crate) use parse::parse;

use rust_decimal::Decimal;

use crate::permission::ResourceType;

/// Where an attribute comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The subject (`user.*`): known at every decision.
    User,
    /// The project the resource is or belongs to (`project.*`).
    Project,
    /// The task (`task.*`).
    Task,
    /// The approval request (`approval.*`).
    Approval,
    /// The HTTP request (`request.*`).
    Request,
}

impl Origin {
    /// Whether attributes of this origin exist for resources of type `t`.
    pub(crate) fn available_for(self, t: ResourceType) -> bool {
        match self {
            Self::User | Self::Request => true,
            Self::Project => {
                matches!(t, ResourceType::Project | ResourceType::Task | ResourceType::Report | ResourceType::Approval)
            }
            Self::Task => t == ResourceType::Task,
            Self::Approval => t == ResourceType::Approval,
        }
    }

    /// Which resource types have attributes of this origin (for messages).
    pub(crate) fn types_having(self) -> Vec<&'static str> {
        ResourceType::ALL.iter().filter(|t| self.available_for(**t)).map(|t| t.as_str()).collect()
    }
}

/// The type of a value in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Decimal,
    Bool,
    Set,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Str => "string",
            Self::Decimal => "decimal",
            Self::Bool => "bool",
            Self::Set => "set of strings",
        }
    }
}

macro_rules! attrs {
    ($($variant:ident = $name:literal, $origin:ident, $field:literal, $ty:ident;)+) => {
        /// An attribute a condition may name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Attr { $($variant),+ }

        impl Attr {
            pub(crate) const ALL: &'static [Attr] = &[$(Attr::$variant),+];

            /// As written in a condition: `project.owner_id`.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// The attribute's name without its origin: `owner_id`.
            pub(crate) fn field(self) -> &'static str {
                match self { $(Self::$variant => $field),+ }
            }

            pub(crate) fn origin(self) -> Origin {
                match self { $(Self::$variant => Origin::$origin),+ }
            }

            pub(crate) fn ty(self) -> Ty {
                match self { $(Self::$variant => Ty::$ty),+ }
            }
        }
    };
}

attrs! {
    UserId = "user.id", User, "id", Str;
    UserUsername = "user.username", User, "username", Str;
    UserRoles = "user.roles", User, "roles", Set;
    ProjectId = "project.id", Project, "id", Str;
    ProjectOwnerId = "project.owner_id", Project, "owner_id", Str;
    ProjectStatus = "project.status", Project, "status", Str;
    ProjectCurrency = "project.currency", Project, "currency", Str;
    ProjectBudget = "project.budget", Project, "budget", Decimal;
    ProjectMemberIds = "project.member_ids", Project, "member_ids", Set;
    TaskId = "task.id", Task, "id", Str;
    TaskAssigneeId = "task.assignee_id", Task, "assignee_id", Str;
    TaskStatus = "task.status", Task, "status", Str;
    ApprovalId = "approval.id", Approval, "id", Str;
    ApprovalRequesterId = "approval.requester_id", Approval, "requester_id", Str;
    ApprovalStatus = "approval.status", Approval, "status", Str;
    RequestIp = "request.ip", Request, "ip", Str;
    RequestMethod = "request.method", Request, "method", Str;
    RequestMfa = "request.mfa", Request, "mfa", Bool;
}

/// A set of attributes (those a group of policies reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AttrSet(u32);

impl AttrSet {
    pub(crate) fn insert(&mut self, a: Attr) {
        self.0 |= 1 << (a as u32);
    }

    pub(crate) fn contains(self, a: Attr) -> bool {
        self.0 & (1 << (a as u32)) != 0
    }

    pub(crate) fn union(self, other: AttrSet) -> AttrSet {
        AttrSet(self.0 | other.0)
    }

    /// Whether any attribute of `origin` is in the set.
    pub(crate) fn any_of(self, origin: Origin) -> bool {
        Attr::ALL.iter().any(|a| a.origin() == origin && self.contains(*a))
    }
}

impl Attr {
    pub(crate) fn lookup(name: &str) -> Option<Attr> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub(crate) fn known_names() -> String {
        Self::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// As written in a condition.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flip(self) -> Self {
        match self {
            Self::Eq | Self::Ne => self,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
        }
    }

    /// Applies the operator to two ordered values.
    pub fn apply<T: PartialOrd>(self, a: &T, b: &T) -> bool {
        match self {
            Self::Eq => a == b,
            Self::Ne => a != b,
            Self::Lt => a < b,
            Self::Le => a <= b,
            Self::Gt => a > b,
            Self::Ge => a >= b,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Decimal(Decimal),
    Bool(bool),
    Set(Vec<String>),
}

/// A condition's syntax tree; `pos` is the character offset in the condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub(crate) kind: Kind,
    pub(crate) pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Lit(Lit),
    Attr(Attr),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    In(Box<Expr>, Box<Expr>),
}

/// An error in a condition, at a character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExprError {
    pub(crate) pos: usize,
    pub(crate) message: String,
}

impl ExprError {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> Self {
        Self { pos, message: message.into() }
    }
}

impl Expr {
    /// Type-checks a whole condition for a policy on `types`: it must be a
    /// bool and name only attributes those types have.
    pub(crate) fn check_condition(&self, types: &[ResourceType]) -> Result<(), ExprError> {
        match self.check(types)? {
            Ty::Bool => Ok(()),
            other => {
                Err(ExprError::new(self.pos, format!("a condition must be true or false, not a {}", other.name())))
            }
        }
    }

    fn check(&self, types: &[ResourceType]) -> Result<Ty, ExprError> {
        let at = |m: String| Err(ExprError::new(self.pos, m));
        match &self.kind {
            Kind::Lit(Lit::Str(_)) => Ok(Ty::Str),
            Kind::Lit(Lit::Decimal(_)) => Ok(Ty::Decimal),
            Kind::Lit(Lit::Bool(_)) => Ok(Ty::Bool),
            Kind::Lit(Lit::Set(_)) => Ok(Ty::Set),
            Kind::Attr(a) => {
                if let Some(t) = types.iter().find(|t| !a.origin().available_for(**t)) {
                    return at(format!(
                        "{} is not available for resource type {}; it exists for: {}",
                        a.name(),
                        t.as_str(),
                        a.origin().types_having().join(", ")
                    ));
                }
                Ok(a.ty())
            }
            Kind::Not(e) => match e.check(types)? {
                Ty::Bool => Ok(Ty::Bool),
                t => at(format!("`not` needs true or false, not a {}", t.name())),
            },
            Kind::And(l, r) | Kind::Or(l, r) => {
                let word = if matches!(self.kind, Kind::And(..)) { "and" } else { "or" };
                for side in [l, r] {
                    let t = side.check(types)?;
                    if t != Ty::Bool {
                        return Err(ExprError::new(
                            side.pos,
                            format!("`{word}` needs true or false, not a {}", t.name()),
                        ));
                    }
                }
                Ok(Ty::Bool)
            }
            Kind::Cmp(l, op, r) => {
                let (lt, rt) = (l.check(types)?, r.check(types)?);
                match op {
                    CmpOp::Eq | CmpOp::Ne if lt == rt && lt != Ty::Set => Ok(Ty::Bool),
                    CmpOp::Eq | CmpOp::Ne if lt == rt => at(format!("cannot compare sets with `{}`", op.symbol())),
                    CmpOp::Eq | CmpOp::Ne => at(format!("cannot compare {} with {}", lt.name(), rt.name())),
                    _ if lt == Ty::Decimal && rt == Ty::Decimal => Ok(Ty::Bool),
                    _ => at(format!(
                        "`{}` compares decimals; cannot compare {} with {}",
                        op.symbol(),
                        lt.name(),
                        rt.name()
                    )),
                }
            }
            Kind::In(l, r) => {
                let (lt, rt) = (l.check(types)?, r.check(types)?);
                if lt == Ty::Str && rt == Ty::Set {
                    Ok(Ty::Bool)
                } else {
                    at(format!(
                        "`in` needs a string on the left and a set on the right \
                         (user.roles, project.member_ids or [\"a\", \"b\"]), not {} in {}",
                        lt.name(),
                        rt.name()
                    ))
                }
            }
        }
    }

    /// Adds the attributes the expression names to `set`.
    pub(crate) fn collect_attrs(&self, set: &mut AttrSet) {
        match &self.kind {
            Kind::Lit(_) => {}
            Kind::Attr(a) => set.insert(*a),
            Kind::Not(e) => e.collect_attrs(set),
            Kind::And(l, r) | Kind::Or(l, r) | Kind::Cmp(l, _, r) | Kind::In(l, r) => {
                l.collect_attrs(set);
                r.collect_attrs(set);
            }
        }
    }

    /// Adds the string literals of the expression (also those in lists) to `out`.
    pub(crate) fn collect_strings(&self, out: &mut Vec<String>) {
        match &self.kind {
            Kind::Lit(Lit::Str(s)) => out.push(s.clone()),
            Kind::Lit(Lit::Set(items)) => out.extend(items.iter().cloned()),
            Kind::Lit(_) | Kind::Attr(_) => {}
            Kind::Not(e) => e.collect_strings(out),
            Kind::And(l, r) | Kind::Or(l, r) | Kind::Cmp(l, _, r) | Kind::In(l, r) => {
                l.collect_strings(out);
                r.collect_strings(out);
            }
        }
    }

    /// Whether the expression names an attribute of `origin`.
    pub(crate) fn uses(&self, origin: Origin) -> bool {
        match &self.kind {
            Kind::Lit(_) => false,
            Kind::Attr(a) => a.origin() == origin,
            Kind::Not(e) => e.uses(origin),
            Kind::And(l, r) | Kind::Or(l, r) | Kind::Cmp(l, _, r) | Kind::In(l, r) => l.uses(origin) || r.uses(origin),
        }
    }
}
