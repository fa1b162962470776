//! The program: the policy instance one ledger runs (SPEC §3), read from a TOML file.
//!
//! Rates, caps, the effective window and voucher limits are data, not code, so that another
//! city's policy (or next year's) is a new file rather than a new release. A program is fixed
//! when the ledger is initialized and its canonical text ([`Program::to_toml`]) is stored in
//! the genesis entry, so a replay, years later and with another build, applies the same rules.
//!
//! The file format is meant to be read and checked by a finance official: money and rates
//! are quoted decimals (no float ever touches money), times are RFC 3339, unknown settings
//! are refused, and every error names the setting at fault by its TOML path (`renter.rate`,
//! `rates[2].gpu_models[1]`, tables and list entries counted from 1 as a reader counts them).
//! `programs/suzhou-2026.toml` documents every setting and *is* the shipped preset.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::Decimal;
use toml::{Table, Value};

use crate::ids::{TextError, check_id, check_text};
use crate::money::{DecimalError, MONEY_PLACES, parse_decimal};
use crate::time::{TimeError, UNIX_SECONDS_MAX, UNIX_SECONDS_MIN, format_rfc3339, parse_rfc3339, year_at};

/// Decimal places of a subsidy rate or voucher coverage ("0.3125" is fine).
pub const RATE_PLACES: u32 = 4;
/// Largest cap, budget or per-holder maximum: 1,000,000,000,000.00 yuan. These are totals
/// over many records, so they may exceed one record's `AMOUNT_MAX`; a trillion yuan is far
/// beyond any city's budget and keeps every sum well inside `Decimal`'s 28 digits.
pub const PROGRAM_MONEY_MAX: Decimal = Decimal::from_parts(276_447_232, 23_283, 0, false, 2);
/// Most characters in a program's `name`.
pub const NAME_CHARS_MAX: usize = 200;
/// Most characters in one GPU model name, the same limit as a usage record's `gpu_model`.
pub const GPU_MODEL_CHARS_MAX: usize = 32;
/// Most GPU models listed across all `[[rates]]` tables. [`Program::rates_for`] runs for
/// every record on the single-writer path and scans the list, so the list stays short.
pub const GPU_MODELS_MAX: usize = 256;
/// Largest accepted UTC offset, ±23:59, the most RFC 3339 can write.
pub const UTC_OFFSET_SECONDS_MAX: i32 = 23 * 3600 + 59 * 60;

/// Name of the default preset.
pub const SUZHOU_2026: &str = "suzhou-2026";
/// Every preset [`Program::preset`] knows.
pub const PRESET_NAMES: &[&str] = &[SUZHOU_2026];
/// The documented program file of the `suzhou-2026` preset, exactly as shipped. The preset
/// is parsed from this text, so the documentation and what the ledger runs cannot differ.
pub const SUZHOU_2026_TOML: &str = include_str!("../programs/suzhou-2026.toml");

/// The period over which caps and the subsidy budget count ("cap year").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapPeriod {
    /// Each calendar year at the program's UTC offset is a cap year (`calendar-year`).
    CalendarYear,
    /// The whole window is one cap year, named by the year of `window_start` (`program`).
    Program,
}

impl CapPeriod {
    /// The spelling in a program file.
    pub fn as_str(self) -> &'static str {
        match self {
            CapPeriod::CalendarYear => "calendar-year",
            CapPeriod::Program => "program",
        }
    }
}

/// Rates that replace the program's default rates for some GPU models (`[[rates]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRate {
    /// Models matched exactly, case included, against a record's `gpu_model`.
    pub gpu_models: Vec<String>,
    /// Replaces [`Program::renter_rate`] for these models; `None` keeps the default.
    pub renter_rate: Option<Decimal>,
    /// Replaces [`Program::supplier_rate`] for these models; `None` keeps the default.
    pub supplier_rate: Option<Decimal>,
}

/// One policy instance. Build it with [`Program::from_toml`] or [`Program::preset`]; a value
/// built by hand should pass [`Program::validate`] before the ledger uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Short name, 1–64 of `A–Z a–z 0–9 - _ . :` (`id`), e.g. `suzhou-2026`.
    pub id: String,
    /// Human title, 1–200 characters (`name`), e.g. the policy's Chinese title.
    pub name: String,
    /// UTC offset of every calendar rule, whole minutes (`timezone`); 28800 for Asia/Shanghai.
    pub utc_offset_seconds: i32,
    /// First second of the effective window, Unix seconds, inclusive (`window_start`).
    pub window_start: i64,
    /// End of the effective window, Unix seconds, exclusive (`window_end`).
    pub window_end: i64,
    /// What a cap year is (`cap_period`).
    pub cap_period: CapPeriod,
    /// Default renter subsidy rate, 0–1 (`renter.rate`).
    pub renter_rate: Decimal,
    /// Most renter subsidy per renter per cap year, yuan (`renter.cap`).
    pub renter_cap: Decimal,
    /// Default supplier subsidy rate, 0–1 (`supplier.rate`).
    pub supplier_rate: Decimal,
    /// Most supplier subsidy per provider per cap year, yuan (`supplier.cap`).
    pub supplier_cap: Decimal,
    /// Renter plus supplier subsidy per cap year, all entities together; `None` is unlimited
    /// (`budget.subsidy_per_cap_year`).
    pub subsidy_budget: Option<Decimal>,
    /// Most compute-voucher face value one holder may receive in total
    /// (`vouchers.compute.holder_max`).
    pub compute_voucher_holder_max: Decimal,
    /// Share of a record's amount a compute voucher may pay, 0 < coverage ≤ 1
    /// (`vouchers.compute.coverage`).
    pub compute_voucher_coverage: Decimal,
    /// Sum of compute-voucher face values that may be issued; `None` is unlimited
    /// (`vouchers.compute.budget`).
    pub compute_voucher_budget: Option<Decimal>,
    /// Most corpus-voucher face value one holder may receive in total
    /// (`vouchers.corpus.holder_max`).
    pub corpus_voucher_holder_max: Decimal,
    /// Sum of corpus-voucher face values that may be issued; `None` is unlimited
    /// (`vouchers.corpus.budget`).
    pub corpus_voucher_budget: Option<Decimal>,
    /// Per-GPU-class rates (`[[rates]]`), in file order.
    pub rates: Vec<GpuRate>,
}

/// Why a program file or value is refused. Every variant but [`ProgramError::Syntax`] names
/// the setting by its TOML path; [`ProgramError::field`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("the program file is not valid TOML (line {line}, column {column}): {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("`{field}` is not a setting of a program file (allowed here: {})", allowed.join(", "))]
    UnknownKey { field: String, allowed: &'static [&'static str] },
    #[error("`{field}` is missing; it is required")]
    MissingKey { field: String },
    #[error(
        "`{field}` is written as a TOML {found}; write money and rates as a quoted decimal \
         such as \"0.30\", so that no floating-point number ever touches money"
    )]
    Unquoted { field: String, found: &'static str },
    #[error("`{field}` must be {expected}, not a TOML {found}")]
    WrongType { field: String, expected: &'static str, found: &'static str },
    #[error("`{field}`: {source}")]
    Decimal { field: String, source: DecimalError },
    #[error("`{field}` is {value}, but {rule}")]
    OutOfRange { field: String, value: String, rule: &'static str },
    #[error("`{field}` {source}")]
    Text { field: String, source: TextError },
    #[error("`{field}`: {source}")]
    Time { field: String, source: TimeError },
    #[error(
        "`timezone` is {value:?}, which is not accepted: use \"Asia/Shanghai\", \"UTC\" \
         or a fixed offset from UTC such as \"+08:00\""
    )]
    Timezone { value: String },
    #[error("`window_start` ({start}) must be before `window_end` ({end}); the end is exclusive")]
    Window { start: String, end: String },
    #[error("`cap_period` is {value:?}, which is not accepted: use \"calendar-year\" or \"program\"")]
    CapPeriod { value: String },
    #[error("`{field}` is empty; list at least one GPU model")]
    NoGpuModels { field: String },
    #[error("`{field}` is {model:?}, already listed at `{first}`; a model may have only one rate")]
    DuplicateModel { field: String, model: String, first: String },
    #[error("`{field}` has too many GPU models: at most {max} may be listed in all")]
    TooManyModels { field: String, max: usize },
    #[error("`{field}` sets neither `renter_rate` nor `supplier_rate`; set at least one")]
    NoRate { field: String },
}

impl ProgramError {
    /// The TOML path of the setting at fault (`None` for a syntax error, which has a line).
    pub fn field(&self) -> Option<&str> {
        match self {
            ProgramError::Syntax { .. } => None,
            ProgramError::Timezone { .. } => Some("timezone"),
            ProgramError::Window { .. } => Some("window_start"),
            ProgramError::CapPeriod { .. } => Some("cap_period"),
            ProgramError::UnknownKey { field, .. }
            | ProgramError::MissingKey { field }
            | ProgramError::Unquoted { field, .. }
            | ProgramError::WrongType { field, .. }
            | ProgramError::Decimal { field, .. }
            | ProgramError::OutOfRange { field, .. }
            | ProgramError::Text { field, .. }
            | ProgramError::Time { field, .. }
            | ProgramError::NoGpuModels { field }
            | ProgramError::DuplicateModel { field, .. }
            | ProgramError::TooManyModels { field, .. }
            | ProgramError::NoRate { field } => Some(field),
        }
    }
}

// The keys each table of a program file may hold.
const ROOT_KEYS: &[&str] = &[
    "id",
    "name",
    "timezone",
    "window_start",
    "window_end",
    "cap_period",
    "renter",
    "supplier",
    "budget",
    "vouchers",
    "rates",
];
const SUBSIDY_KEYS: &[&str] = &["rate", "cap"];
const BUDGET_KEYS: &[&str] = &["subsidy_per_cap_year"];
const VOUCHERS_KEYS: &[&str] = &["compute", "corpus"];
const COMPUTE_KEYS: &[&str] = &["holder_max", "coverage", "budget"];
const CORPUS_KEYS: &[&str] = &["holder_max", "budget"];
const RATES_KEYS: &[&str] = &["gpu_models", "renter_rate", "supplier_rate"];

impl Program {
    /// Reads a program file and validates it ([`Program::validate`]).
    pub fn from_toml(text: &str) -> Result<Program, ProgramError> {
        let table: Table = text.parse().map_err(|e| syntax_error(text, &e))?;
        let root = Section::open(String::new(), &table, ROOT_KEYS)?;

        // Read in file order, so that of several faults the first one written is reported.
        let id = root.required_string("id")?;
        let name = root.required_string("name")?;
        let timezone = root.required_string("timezone")?;
        let utc_offset_seconds =
            parse_timezone(timezone).ok_or_else(|| ProgramError::Timezone { value: timezone.to_string() })?;
        let window_start = root.time("window_start")?;
        let window_end = root.time("window_end")?;
        let cap_period = match root.required_string("cap_period")? {
            "calendar-year" => CapPeriod::CalendarYear,
            "program" => CapPeriod::Program,
            other => {
                return Err(ProgramError::CapPeriod { value: other.to_string() });
            }
        };

        let renter = root.required_table("renter", SUBSIDY_KEYS)?;
        let supplier = root.required_table("supplier", SUBSIDY_KEYS)?;
        // An empty or absent [budget] both mean "no budget": the preset file shows the
        // table with its setting commented out, which must read as unlimited.
        let budget = root.table("budget", BUDGET_KEYS)?;
        let vouchers = root.required_table("vouchers", VOUCHERS_KEYS)?;
        let compute = vouchers.required_table("compute", COMPUTE_KEYS)?;
        let corpus = vouchers.required_table("corpus", CORPUS_KEYS)?;

        let program = Program {
            id: id.to_string(),
            name: name.to_string(),
            utc_offset_seconds,
            window_start,
            window_end,
            cap_period,
            renter_rate: renter.required_decimal("rate", RATE_PLACES)?,
            renter_cap: renter.required_decimal("cap", MONEY_PLACES)?,
            supplier_rate: supplier.required_decimal("rate", RATE_PLACES)?,
            supplier_cap: supplier.required_decimal("cap", MONEY_PLACES)?,
            subsidy_budget: match &budget {
                Some(b) => b.decimal("subsidy_per_cap_year", MONEY_PLACES)?,
                None => None,
            },
            compute_voucher_holder_max: compute.required_decimal("holder_max", MONEY_PLACES)?,
            compute_voucher_coverage: compute.required_decimal("coverage", RATE_PLACES)?,
            compute_voucher_budget: compute.decimal("budget", MONEY_PLACES)?,
            corpus_voucher_holder_max: corpus.required_decimal("holder_max", MONEY_PLACES)?,
            corpus_voucher_budget: corpus.decimal("budget", MONEY_PLACES)?,
            rates: root
                .array_of_tables("rates", RATES_KEYS)?
                .iter()
                .map(Section::gpu_rate)
                .collect::<Result<_, _>>()?,
        };
        program.validate()?;
        Ok(program)
    }

    /// The canonical program file: the same keys in the same order with the same number
    /// formats every time, no comments, the time zone as a fixed offset (`"+08:00"`, since
    /// only the offset is kept), times at that offset, money with exactly 2 places and rates
    /// with at least 2. This text goes into the genesis entry, so it is written by hand
    /// rather than by a TOML serializer whose output could change with a library upgrade.
    /// For a valid program, `from_toml(&p.to_toml()) == Ok(p)`.
    pub fn to_toml(&self) -> String {
        let offset = self.utc_offset_seconds;
        let mut out = String::new();
        let o = &mut out;
        put(o, "id", toml_string(&self.id));
        put(o, "name", toml_string(&self.name));
        put(o, "timezone", toml_string(&format_offset(offset)));
        put(o, "window_start", toml_string(&format_rfc3339(self.window_start, offset)));
        put(o, "window_end", toml_string(&format_rfc3339(self.window_end, offset)));
        put(o, "cap_period", toml_string(self.cap_period.as_str()));
        o.push_str("\n[renter]\n");
        put_decimal(o, "rate", Some(self.renter_rate));
        put_decimal(o, "cap", Some(self.renter_cap));
        o.push_str("\n[supplier]\n");
        put_decimal(o, "rate", Some(self.supplier_rate));
        put_decimal(o, "cap", Some(self.supplier_cap));
        // Written only when set: an empty [budget] would say nothing.
        if self.subsidy_budget.is_some() {
            o.push_str("\n[budget]\n");
            put_decimal(o, "subsidy_per_cap_year", self.subsidy_budget);
        }
        o.push_str("\n[vouchers.compute]\n");
        put_decimal(o, "holder_max", Some(self.compute_voucher_holder_max));
        put_decimal(o, "coverage", Some(self.compute_voucher_coverage));
        put_decimal(o, "budget", self.compute_voucher_budget);
        o.push_str("\n[vouchers.corpus]\n");
        put_decimal(o, "holder_max", Some(self.corpus_voucher_holder_max));
        put_decimal(o, "budget", self.corpus_voucher_budget);
        for rate in &self.rates {
            let models: Vec<String> = rate.gpu_models.iter().map(|m| toml_string(m)).collect();
            o.push_str("\n[[rates]]\n");
            put(o, "gpu_models", format!("[{}]", models.join(", ")));
            put_decimal(o, "renter_rate", rate.renter_rate);
            put_decimal(o, "supplier_rate", rate.supplier_rate);
        }
        out
    }

    /// A program shipped with the ledger, by name (see [`PRESET_NAMES`]).
    pub fn preset(name: &str) -> Option<Program> {
        match name {
            SUZHOU_2026 => Some(Program::suzhou_2026()),
            _ => None,
        }
    }

    /// The default preset: Suzhou's 2026 compute-voucher policy, parsed from
    /// [`SUZHOU_2026_TOML`].
    pub fn suzhou_2026() -> Program {
        // The file is part of the crate and tested; failing here is a bug in this build.
        Program::from_toml(SUZHOU_2026_TOML).expect("the shipped suzhou-2026 program is valid")
    }

    /// Checks every rule on a program's values, including those across fields. Errors name
    /// settings by their TOML path, so a program built in code is judged like a file.
    pub fn validate(&self) -> Result<(), ProgramError> {
        check_id(&self.id).map_err(text_error("id"))?;
        check_text(&self.name, NAME_CHARS_MAX).map_err(text_error("name"))?;
        // to_toml writes the offset as ±hh:mm, so anything else could not round-trip.
        if self.utc_offset_seconds.abs() > UTC_OFFSET_SECONDS_MAX || self.utc_offset_seconds % 60 != 0 {
            return Err(ProgramError::OutOfRange {
                field: "timezone".to_string(),
                value: format!("{} seconds from UTC", self.utc_offset_seconds),
                rule: "an offset must be whole minutes between -23:59 and +23:59",
            });
        }
        check_instant("window_start", self.window_start)?;
        check_instant("window_end", self.window_end)?;
        if self.window_start >= self.window_end {
            return Err(ProgramError::Window {
                start: format_rfc3339(self.window_start, self.utc_offset_seconds),
                end: format_rfc3339(self.window_end, self.utc_offset_seconds),
            });
        }
        check_rate("renter.rate", self.renter_rate)?;
        check_money("renter.cap", self.renter_cap)?;
        check_rate("supplier.rate", self.supplier_rate)?;
        check_money("supplier.cap", self.supplier_cap)?;
        if let Some(b) = self.subsidy_budget {
            check_money("budget.subsidy_per_cap_year", b)?;
        }
        check_money("vouchers.compute.holder_max", self.compute_voucher_holder_max)?;
        check_places("vouchers.compute.coverage", self.compute_voucher_coverage, RATE_PLACES)?;
        // A coverage of 0 would make every compute voucher undrawable: surely a mistake.
        if self.compute_voucher_coverage <= Decimal::ZERO || self.compute_voucher_coverage > Decimal::ONE {
            return Err(out_of_range(
                "vouchers.compute.coverage",
                self.compute_voucher_coverage,
                "coverage must be more than 0 and at most 1",
            ));
        }
        if let Some(b) = self.compute_voucher_budget {
            check_money("vouchers.compute.budget", b)?;
        }
        check_money("vouchers.corpus.holder_max", self.corpus_voucher_holder_max)?;
        if let Some(b) = self.corpus_voucher_budget {
            check_money("vouchers.corpus.budget", b)?;
        }
        self.validate_rates()
    }

    fn validate_rates(&self) -> Result<(), ProgramError> {
        // Model → where it was first listed. A model listed twice would make its rate depend
        // on table order, which a reader of the file could easily get wrong.
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (i, rate) in self.rates.iter().enumerate() {
            let table = format!("rates[{}]", i + 1);
            if rate.gpu_models.is_empty() {
                return Err(ProgramError::NoGpuModels { field: format!("{table}.gpu_models") });
            }
            for (j, model) in rate.gpu_models.iter().enumerate() {
                let field = format!("{table}.gpu_models[{}]", j + 1);
                check_text(model, GPU_MODEL_CHARS_MAX).map_err(text_error(&field))?;
                if seen.len() == GPU_MODELS_MAX {
                    return Err(ProgramError::TooManyModels { field, max: GPU_MODELS_MAX });
                }
                if let Some(first) = seen.get(model.as_str()) {
                    return Err(ProgramError::DuplicateModel { field, model: model.clone(), first: first.clone() });
                }
                seen.insert(model, field);
            }
            if rate.renter_rate.is_none() && rate.supplier_rate.is_none() {
                return Err(ProgramError::NoRate { field: table });
            }
            if let Some(r) = rate.renter_rate {
                check_rate(&format!("{table}.renter_rate"), r)?;
            }
            if let Some(r) = rate.supplier_rate {
                check_rate(&format!("{table}.supplier_rate"), r)?;
            }
        }
        Ok(())
    }

    /// The (renter, supplier) rates for a record's `gpu_model`: the first `[[rates]]` table
    /// listing the model exactly (case-sensitive, no trimming: the record's own spelling is
    /// what the provider signed) supplies the rates it names; the program's defaults fill in
    /// the rest. A valid program lists each model once, so "first" only matters for a
    /// program that was never validated.
    pub fn rates_for(&self, gpu_model: &str) -> (Decimal, Decimal) {
        let matched = self.rates.iter().find(|r| r.gpu_models.iter().any(|m| m == gpu_model));
        match matched {
            Some(r) => (r.renter_rate.unwrap_or(self.renter_rate), r.supplier_rate.unwrap_or(self.supplier_rate)),
            None => (self.renter_rate, self.supplier_rate),
        }
    }

    /// Whether an instant (a record's `end`) is in the effective window,
    /// `window_start <= t < window_end`.
    pub fn in_window(&self, t: i64) -> bool {
        self.window_start <= t && t < self.window_end
    }

    /// The cap year of an instant (a record's `end`), which names the caps and the budget it
    /// counts against. `CalendarYear`: the calendar year of `t` at the program's offset.
    /// `Program`: the calendar year of `window_start`, whatever `t` is, so the whole window
    /// shares one cap (and reports and year close name it by that year). Only records
    /// inside the window earn anything, so callers need not ask about other instants.
    pub fn cap_year(&self, t: i64) -> i32 {
        match self.cap_period {
            CapPeriod::CalendarYear => year_at(t, self.utc_offset_seconds),
            CapPeriod::Program => year_at(self.window_start, self.utc_offset_seconds),
        }
    }
}

/// One table of a program file being read. Unknown keys are refused when it is opened, so a
/// misspelt setting is reported as such instead of as a missing one.
struct Section<'a> {
    /// TOML path of the table, empty for the root.
    path: String,
    table: &'a Table,
}

impl<'a> Section<'a> {
    fn open(path: String, table: &'a Table, allowed: &'static [&'static str]) -> Result<Self, ProgramError> {
        if let Some(key) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ProgramError::UnknownKey { field: join(&path, key), allowed });
        }
        Ok(Section { path, table })
    }

    fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn missing(&self, key: &str) -> ProgramError {
        ProgramError::MissingKey { field: self.field(key) }
    }

    fn required<T>(&self, key: &str, value: Option<T>) -> Result<T, ProgramError> {
        value.ok_or_else(|| self.missing(key))
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> ProgramError {
        ProgramError::WrongType { field: self.field(key), expected, found: found.type_str() }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, ProgramError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(key, "a quoted string", v)),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, ProgramError> {
        let value = self.string(key)?;
        self.required(key, value)
    }

    /// A quoted RFC 3339 time. An unquoted TOML date-time is refused like an unquoted
    /// number: one way to write a value keeps files alike and the rules short.
    fn time(&self, key: &str) -> Result<i64, ProgramError> {
        let s = match self.table.get(key) {
            Some(Value::String(s)) => s,
            Some(v) => {
                return Err(self.wrong_type(key, "a quoted RFC 3339 time such as \"2026-01-31T00:00:00+08:00\"", v));
            }
            None => return Err(self.missing(key)),
        };
        parse_rfc3339(s).map_err(|source| ProgramError::Time { field: self.field(key), source })
    }

    fn decimal(&self, key: &str, places: u32) -> Result<Option<Decimal>, ProgramError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => parse_decimal(s, places)
                .map(Some)
                .map_err(|source| ProgramError::Decimal { field: self.field(key), source }),
            Some(v @ (Value::Integer(_) | Value::Float(_))) => {
                Err(ProgramError::Unquoted { field: self.field(key), found: v.type_str() })
            }
            Some(v) => Err(self.wrong_type(key, "a quoted decimal such as \"0.30\"", v)),
        }
    }

    fn required_decimal(&self, key: &str, places: u32) -> Result<Decimal, ProgramError> {
        let value = self.decimal(key, places)?;
        self.required(key, value)
    }

    fn table(&self, key: &str, allowed: &'static [&'static str]) -> Result<Option<Section<'a>>, ProgramError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Section::open(self.field(key), t, allowed).map(Some),
            Some(v) => Err(self.wrong_type(key, "a table", v)),
        }
    }

    fn required_table(&self, key: &str, allowed: &'static [&'static str]) -> Result<Section<'a>, ProgramError> {
        let value = self.table(key, allowed)?;
        self.required(key, value)
    }

    /// `[[key]]` tables, each with the path `key[n]`, n from 1.
    fn array_of_tables(&self, key: &str, allowed: &'static [&'static str]) -> Result<Vec<Section<'a>>, ProgramError> {
        const EXPECTED: &str = "a list of tables, each headed [[rates]]";
        let items = match self.table.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.wrong_type(key, EXPECTED, v)),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{}]", self.field(key), i + 1);
                match item {
                    Value::Table(t) => Section::open(path, t, allowed),
                    v => Err(ProgramError::WrongType { field: path, expected: EXPECTED, found: v.type_str() }),
                }
            })
            .collect()
    }

    /// One `[[rates]]` table; its rules across fields are left to `validate`.
    fn gpu_rate(&self) -> Result<GpuRate, ProgramError> {
        const EXPECTED: &str = "a list of quoted GPU model names such as [\"Ascend-910B\"]";
        let models = match self.table.get("gpu_models") {
            None => return Err(self.missing("gpu_models")),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.wrong_type("gpu_models", EXPECTED, v)),
        };
        let gpu_models = models
            .iter()
            .enumerate()
            .map(|(j, m)| match m {
                Value::String(s) => Ok(s.clone()),
                v => Err(ProgramError::WrongType {
                    field: format!("{}[{}]", self.field("gpu_models"), j + 1),
                    expected: EXPECTED,
                    found: v.type_str(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(GpuRate {
            gpu_models,
            renter_rate: self.decimal("renter_rate", RATE_PLACES)?,
            supplier_rate: self.decimal("supplier_rate", RATE_PLACES)?,
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// A TOML parse error with its line and column, so the official can find the spot.
fn syntax_error(text: &str, e: &toml::de::Error) -> ProgramError {
    let start = e.span().map_or(0, |s| s.start).min(text.len());
    // The span is a byte offset; step back to a character boundary before slicing.
    let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ProgramError::Syntax { line, column, message: e.message().trim().to_string() }
}

/// The time zones a program may name. Only fixed offsets: the calendar rules must give the
/// same year for the same instant forever, and China has had no daylight saving since 1991.
fn parse_timezone(s: &str) -> Option<i32> {
    match s {
        "Asia/Shanghai" => Some(8 * 3600),
        "UTC" => Some(0),
        _ => parse_fixed_offset(s),
    }
}

/// `±hh:mm`. `-00:00` is refused: RFC 3339 uses it to mean "offset unknown".
fn parse_fixed_offset(s: &str) -> Option<i32> {
    let &[sign, h1, h2, b':', m1, m2] = s.as_bytes() else {
        return None;
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| i32::from(b - b'0'));
    let hours = digit(h1)? * 10 + digit(h2)?;
    let minutes = digit(m1)? * 10 + digit(m2)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = hours * 3600 + minutes * 60;
    match sign {
        b'+' => Some(seconds),
        b'-' if seconds != 0 => Some(-seconds),
        _ => None,
    }
}

fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let a = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// One spelling per value, so equal programs write equal text: trailing zeros dropped, then
/// padded to 2 places ("2000000.00", "0.30", "0.125", "1.00"), never `-0`.
fn canonical_decimal(d: Decimal) -> String {
    let mut d = if d.is_zero() { Decimal::ZERO } else { d.normalize() };
    if d.scale() < MONEY_PLACES {
        d.rescale(MONEY_PLACES);
    }
    d.to_string()
}

fn put(out: &mut String, key: &str, value: String) {
    out.push_str(key);
    out.push_str(" = ");
    out.push_str(&value);
    out.push('\n');
}

/// A decimal setting in quotes; an unset optional one is left out.
fn put_decimal(out: &mut String, key: &str, value: Option<Decimal>) {
    if let Some(d) = value {
        put(out, key, toml_string(&canonical_decimal(d)));
    }
}

/// A TOML basic string. Control characters are escaped so that even a program that was
/// never validated writes text that parses.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text_error(field: &str) -> impl Fn(TextError) -> ProgramError + '_ {
    move |source| ProgramError::Text { field: field.to_string(), source }
}

fn out_of_range(field: &str, value: Decimal, rule: &'static str) -> ProgramError {
    ProgramError::OutOfRange { field: field.to_string(), value: value.to_string(), rule }
}

/// Places as held (a hand-built `Decimal` keeps its scale, like a string keeps its digits).
fn check_places(field: &str, d: Decimal, max: u32) -> Result<(), ProgramError> {
    if d.scale() > max {
        return Err(ProgramError::Decimal {
            field: field.to_string(),
            source: DecimalError::Places { value: d.to_string(), places: d.scale(), max },
        });
    }
    Ok(())
}

fn check_rate(field: &str, rate: Decimal) -> Result<(), ProgramError> {
    check_places(field, rate, RATE_PLACES)?;
    if rate < Decimal::ZERO || rate > Decimal::ONE {
        return Err(out_of_range(field, rate, "a rate must be between 0 and 1"));
    }
    Ok(())
}

fn check_money(field: &str, amount: Decimal) -> Result<(), ProgramError> {
    check_places(field, amount, MONEY_PLACES)?;
    if amount < Decimal::ZERO {
        return Err(out_of_range(field, amount, "money must not be negative"));
    }
    if amount > PROGRAM_MONEY_MAX {
        return Err(out_of_range(
            field,
            amount,
            "a cap, budget or holder maximum must be at most 1000000000000.00 yuan",
        ));
    }
    Ok(())
}

fn check_instant(field: &str, t: i64) -> Result<(), ProgramError> {
    if !(UNIX_SECONDS_MIN..UNIX_SECONDS_MAX).contains(&t) {
        return Err(ProgramError::OutOfRange {
            field: field.to_string(),
            value: format!("{t} (Unix seconds)"),
            rule: "a time must fall in the years 2000–2199",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn t(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    /// A program with every optional setting, two [[rates]] tables and a name that needs
    /// escaping.
    const FULL: &str = r#"
id = "test:full_1.0"
name = "全字段 \"test\" program \\ with escapes"
timezone = "UTC"
window_start = "2026-01-01T00:00:00Z"
window_end = "2028-01-01T00:00:00Z"
cap_period = "program"

[renter]
rate = "0.25"
cap = "1500000.5"

[supplier]
rate = "0.125"
cap = "3000000"

[budget]
subsidy_per_cap_year = "500000000.00"

[vouchers.compute]
holder_max = "300000.00"
coverage = "0.80"
budget = "10000000.00"

[vouchers.corpus]
holder_max = "50000.00"
budget = "2000000.00"

[[rates]]
gpu_models = ["Ascend-910B", "Ascend-910C"]
renter_rate = "0.40"
supplier_rate = "0.15"

[[rates]]
gpu_models = ["MLU370-X8"]
renter_rate = "0.35"
"#;

    /// FULL with `from` (which must occur exactly once) replaced by `to`.
    fn edit(from: &str, to: &str) -> String {
        assert_eq!(FULL.matches(from).count(), 1, "{from:?} must occur once in FULL");
        FULL.replacen(from, to, 1)
    }

    /// Parses `text`, expects it refused, and checks that the message names `field`.
    fn refused(text: &str, field: &str) -> ProgramError {
        let e = Program::from_toml(text).expect_err("the program was accepted");
        let message = e.to_string();
        assert!(message.contains(&format!("`{field}`")), "{message:?} does not name {field}");
        assert_eq!(e.field(), Some(field), "{message}");
        e
    }

    #[test]
    fn preset_has_every_value_of_spec_section_3() {
        let p = Program::suzhou_2026();
        assert_eq!(p.id, "suzhou-2026");
        assert_eq!(p.name, "苏州市进一步加快建设\"人工智能+\"城市的若干措施(2026年版)");
        assert_eq!(p.utc_offset_seconds, 28_800);
        assert_eq!(p.window_start, t("2026-01-31T00:00:00+08:00"));
        assert_eq!(p.window_end, t("2027-01-31T00:00:00+08:00"));
        assert_eq!(p.cap_period, CapPeriod::CalendarYear);
        assert_eq!(p.renter_rate, d("0.30"));
        assert_eq!(p.renter_cap, d("2000000.00"));
        assert_eq!(p.supplier_rate, d("0.10"));
        assert_eq!(p.supplier_cap, d("2000000.00"));
        assert_eq!(p.subsidy_budget, None);
        assert_eq!(p.compute_voucher_holder_max, d("200000.00"));
        assert_eq!(p.compute_voucher_coverage, d("1.00"));
        assert_eq!(p.compute_voucher_budget, None);
        assert_eq!(p.corpus_voucher_holder_max, d("100000.00"));
        assert_eq!(p.corpus_voucher_budget, None);
        assert!(p.rates.is_empty());
        assert_eq!(p.rates_for("H100"), (d("0.30"), d("0.10")));
        assert_eq!(p.rates_for("Ascend-910B"), (d("0.30"), d("0.10")));
        assert_eq!(Program::preset("suzhou-2026"), Some(p));
        assert_eq!(Program::preset("suzhou-2025"), None);
        assert_eq!(Program::preset("Suzhou-2026"), None);
        for name in PRESET_NAMES {
            assert!(Program::preset(name).is_some(), "{name}");
        }
    }

    #[test]
    fn preset_window_is_end_exclusive() {
        let p = Program::suzhou_2026();
        assert!(!p.in_window(t("2026-01-30T23:59:59+08:00")));
        assert!(p.in_window(t("2026-01-31T00:00:00+08:00")));
        assert!(p.in_window(t("2027-01-30T23:59:59+08:00")));
        assert!(!p.in_window(t("2027-01-31T00:00:00+08:00")));
    }

    #[test]
    fn preset_cap_year_is_the_calendar_year_in_shanghai() {
        let p = Program::suzhou_2026();
        assert_eq!(p.cap_year(t("2026-12-31T23:59:59+08:00")), 2026);
        assert_eq!(p.cap_year(t("2027-01-01T00:00:00+08:00")), 2027);
        assert_eq!(p.cap_year(t("2026-12-31T16:00:00Z")), 2027);
        assert_eq!(p.cap_year(t("2026-12-31T15:59:59Z")), 2026);
    }

    #[test]
    fn program_cap_period_is_one_cap_year_named_by_the_start() {
        let p = Program::from_toml(FULL).unwrap();
        assert_eq!(p.cap_period, CapPeriod::Program);
        assert_eq!(p.cap_year(t("2026-01-01T00:00:00Z")), 2026);
        assert_eq!(p.cap_year(t("2027-12-31T23:59:59Z")), 2026);
    }

    #[test]
    fn gpu_rates_replace_only_the_rates_they_name() {
        let p = Program::from_toml(FULL).unwrap();
        assert_eq!(p.rates_for("Ascend-910B"), (d("0.40"), d("0.15")));
        assert_eq!(p.rates_for("Ascend-910C"), (d("0.40"), d("0.15")));
        // Only renter_rate is named: the default supplier rate stays.
        assert_eq!(p.rates_for("MLU370-X8"), (d("0.35"), d("0.125")));
        // Matching is exact: case, spaces and prefixes matter.
        for other in ["ascend-910b", "ASCEND-910B", "Ascend-910B ", "Ascend", "H100", ""] {
            assert_eq!(p.rates_for(other), (d("0.25"), d("0.125")), "{other:?}");
        }
    }

    #[test]
    fn first_matching_rates_table_wins() {
        // validate refuses a model listed twice, but rates_for still has one defined answer.
        let mut p = Program::from_toml(FULL).unwrap();
        p.rates.push(GpuRate {
            gpu_models: vec!["Ascend-910B".into()],
            renter_rate: Some(d("0.90")),
            supplier_rate: Some(d("0.90")),
        });
        assert_eq!(p.rates_for("Ascend-910B"), (d("0.40"), d("0.15")));
        assert!(matches!(p.validate(), Err(ProgramError::DuplicateModel { .. })));
    }

    #[test]
    fn full_program_reads_every_setting() {
        let p = Program::from_toml(FULL).unwrap();
        assert_eq!(p.id, "test:full_1.0");
        assert_eq!(p.name, "全字段 \"test\" program \\ with escapes");
        assert_eq!(p.utc_offset_seconds, 0);
        assert_eq!(p.window_start, t("2026-01-01T00:00:00Z"));
        assert_eq!(p.window_end, t("2028-01-01T00:00:00Z"));
        assert_eq!(p.renter_cap, d("1500000.50"));
        assert_eq!(p.supplier_cap, d("3000000.00"));
        assert_eq!(p.subsidy_budget, Some(d("500000000.00")));
        assert_eq!(p.compute_voucher_holder_max, d("300000.00"));
        assert_eq!(p.compute_voucher_coverage, d("0.80"));
        assert_eq!(p.compute_voucher_budget, Some(d("10000000.00")));
        assert_eq!(p.corpus_voucher_holder_max, d("50000.00"));
        assert_eq!(p.corpus_voucher_budget, Some(d("2000000.00")));
        assert_eq!(p.rates.len(), 2);
        assert_eq!(p.rates[1].supplier_rate, None);
    }

    #[test]
    fn timezones() {
        let tz = |z: &str| Program::from_toml(&edit("\"UTC\"", &format!("{z:?}")));
        assert_eq!(tz("Asia/Shanghai").unwrap().utc_offset_seconds, 28_800);
        assert_eq!(tz("UTC").unwrap().utc_offset_seconds, 0);
        assert_eq!(tz("+08:00").unwrap().utc_offset_seconds, 28_800);
        assert_eq!(tz("+00:00").unwrap().utc_offset_seconds, 0);
        assert_eq!(tz("-05:30").unwrap().utc_offset_seconds, -19_800);
        assert_eq!(tz("+23:59").unwrap().utc_offset_seconds, 86_340);
        for bad in
            ["Asia/Tokyo", "asia/shanghai", "CST", "Z", "+8:00", "+0800", "08:00", "+24:00", "+08:60", "-00:00", ""]
        {
            let e = refused(&edit("\"UTC\"", &format!("{bad:?}")), "timezone");
            let message = e.to_string();
            assert!(message.contains("Asia/Shanghai") && message.contains("+08:00"), "{message}");
        }
    }

    #[test]
    fn canonical_text_of_the_preset() {
        let expected = r#"id = "suzhou-2026"
name = "苏州市进一步加快建设\"人工智能+\"城市的若干措施(2026年版)"
timezone = "+08:00"
window_start = "2026-01-31T00:00:00+08:00"
window_end = "2027-01-31T00:00:00+08:00"
cap_period = "calendar-year"

[renter]
rate = "0.30"
cap = "2000000.00"

[supplier]
rate = "0.10"
cap = "2000000.00"

[vouchers.compute]
holder_max = "200000.00"
coverage = "1.00"

[vouchers.corpus]
holder_max = "100000.00"
"#;
        // This text goes into the genesis entry: a change here changes every new ledger.
        assert_eq!(Program::suzhou_2026().to_toml(), expected);
    }

    #[test]
    fn round_trips() {
        for p in [Program::suzhou_2026(), Program::from_toml(FULL).unwrap()] {
            let text = p.to_toml();
            let back = Program::from_toml(&text).unwrap();
            assert_eq!(back, p);
            assert_eq!(back.to_toml(), text, "to_toml is not canonical");
            assert_eq!(p.to_toml(), text, "to_toml is not deterministic");
        }
        let text = Program::from_toml(FULL).unwrap().to_toml();
        assert!(text.contains("timezone = \"+00:00\"\n"), "{text}");
        assert!(text.contains("window_start = \"2026-01-01T00:00:00Z\"\n"), "{text}");
        assert!(text.contains("cap = \"1500000.50\"\n"), "{text}");
        assert!(text.contains("rate = \"0.125\"\n"), "{text}");
        assert!(text.contains("cap = \"3000000.00\"\n"), "{text}");
        assert!(text.contains("[budget]\nsubsidy_per_cap_year = \"500000000.00\"\n"), "{text}");
        assert!(text.contains("gpu_models = [\"Ascend-910B\", \"Ascend-910C\"]\n"), "{text}");
    }

    #[test]
    fn equal_programs_write_equal_text() {
        // Decimal equality ignores scale; the canonical text must too.
        let a = Program::suzhou_2026();
        let mut b = a.clone();
        b.renter_rate = d("0.3000");
        b.renter_cap = d("2000000");
        b.compute_voucher_coverage = d("1");
        assert_eq!(a, b);
        assert_eq!(a.to_toml(), b.to_toml());
    }

    #[test]
    fn to_toml_escapes_what_a_name_or_model_may_hold() {
        let mut p = Program::from_toml(FULL).unwrap();
        p.name = "a \"quoted\" \\ back\\slash, 中文, emoji 🚀, tab\tand\u{7f}".into();
        p.rates[0].gpu_models = vec!["\"X\"".into(), "a\\b".into(), "昇腾910B".into()];
        let text = p.to_toml();
        let table: Table = text.parse().expect("to_toml writes valid TOML");
        assert_eq!(table["name"].as_str(), Some(p.name.as_str()));
        // The tab and DEL are control characters: written, but refused by validate.
        assert!(matches!(
            Program::from_toml(&text),
            Err(ProgramError::Text { ref field, source: TextError::Control }) if field == "name"
        ));
        p.name = "a \"quoted\" \\ back\\slash, 中文, emoji 🚀".into();
        assert_eq!(Program::from_toml(&p.to_toml()), Ok(p));
    }

    /// The optional settings the preset file shows commented out must themselves be valid,
    /// or the documentation would teach a format the ledger refuses.
    #[test]
    fn commented_out_settings_in_the_preset_file_are_valid() {
        let is_setting = |rest: &str| {
            rest.starts_with('[')
                || rest
                    .split_once(" = ")
                    .is_some_and(|(key, _)| !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        };
        let mut uncommented = 0;
        let text: String = SUZHOU_2026_TOML
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if is_setting(rest) => {
                    uncommented += 1;
                    format!("{rest}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        assert_eq!(uncommented, 7, "{text}");
        let p = Program::from_toml(&text).unwrap();
        assert_eq!(p.subsidy_budget, Some(d("500000000.00")));
        assert_eq!(p.compute_voucher_budget, Some(d("100000000.00")));
        assert_eq!(p.corpus_voucher_budget, Some(d("20000000.00")));
        assert_eq!(p.rates_for("Ascend-910B"), (d("0.40"), d("0.15")));
    }

    // One test per way a program file can be wrong; each checks the message names the field.

    #[test]
    fn syntax_error_names_the_line() {
        let e = Program::from_toml(&edit("holder_max = \"50000.00\"", "holder_max = \"50000.00")).unwrap_err();
        let ProgramError::Syntax { line, .. } = e else { panic!("{e:?}") };
        assert_eq!(line, 26);
        assert!(e.to_string().contains("line 26"), "{e}");
        assert!(matches!(Program::from_toml("id = "), Err(ProgramError::Syntax { line: 1, .. })));
        // A key written twice is a TOML error too.
        let twice = edit("rate = \"0.25\"", "rate = \"0.25\"\nrate = \"0.25\"");
        assert!(matches!(Program::from_toml(&twice), Err(ProgramError::Syntax { .. })));
    }

    #[test]
    fn unknown_keys() {
        refused(&edit("id = ", "ids = \"x\"\nid = "), "ids");
        refused(&edit("rate = \"0.25\"", "rat = \"0.25\""), "renter.rat");
        refused(&edit("[budget]", "[budget]\nrenter = \"1.00\""), "budget.renter");
        refused(
            &edit("[vouchers.corpus]", "[vouchers.data]\nholder_max = \"1.00\"\n[vouchers.corpus]"),
            "vouchers.data",
        );
        refused(&edit("coverage = \"0.80\"", "coverage = \"0.80\"\ncover = \"1\""), "vouchers.compute.cover");
        refused(
            &edit("renter_rate = \"0.35\"", "renter_rate = \"0.35\"\nrenter_cap = \"1.00\""),
            "rates[2].renter_cap",
        );
        let e = refused(&edit("[renter]", "[renters]\nrate = \"0.25\"\n[renter]"), "renters");
        assert!(e.to_string().contains("renter, supplier"), "{e}");
    }

    #[test]
    fn missing_keys() {
        refused(&edit("id = \"test:full_1.0\"\n", ""), "id");
        refused(&edit("name = ", "# name = "), "name");
        refused(&edit("timezone = ", "# timezone = "), "timezone");
        refused(&edit("window_start = ", "# window_start = "), "window_start");
        refused(&edit("window_end = ", "# window_end = "), "window_end");
        refused(&edit("cap_period = ", "# cap_period = "), "cap_period");
        refused(&edit("cap = \"1500000.5\"", ""), "renter.cap");
        refused(&edit("rate = \"0.125\"", ""), "supplier.rate");
        refused(&edit("holder_max = \"300000.00\"", ""), "vouchers.compute.holder_max");
        refused(&edit("coverage = \"0.80\"", ""), "vouchers.compute.coverage");
        refused(&edit("holder_max = \"50000.00\"", ""), "vouchers.corpus.holder_max");
        refused(&edit("gpu_models = [\"MLU370-X8\"]", ""), "rates[2].gpu_models");
        let no_supplier = edit("[supplier]\nrate = \"0.125\"\ncap = \"3000000\"\n", "");
        refused(&no_supplier, "supplier");
        let no_corpus = edit("[vouchers.corpus]\nholder_max = \"50000.00\"\nbudget = \"2000000.00\"\n", "");
        refused(&no_corpus, "vouchers.corpus");
        let preset = Program::suzhou_2026().to_toml();
        refused(&preset[..preset.find("\n[vouchers.").unwrap()], "vouchers");
    }

    #[test]
    fn optional_settings_may_be_left_out() {
        let text = edit("[budget]\nsubsidy_per_cap_year = \"500000000.00\"\n", "")
            .replace("budget = \"10000000.00\"\n", "")
            .replace("budget = \"2000000.00\"\n", "");
        let p = Program::from_toml(&text).unwrap();
        assert_eq!((p.subsidy_budget, p.compute_voucher_budget, p.corpus_voucher_budget), (None, None, None));
        let empty_budget = edit("subsidy_per_cap_year = \"500000000.00\"\n", "");
        assert_eq!(Program::from_toml(&empty_budget).unwrap().subsidy_budget, None);
        let no_rates = &FULL[..FULL.find("[[rates]]").unwrap()];
        assert!(Program::from_toml(no_rates).unwrap().rates.is_empty());
    }

    #[test]
    fn numbers_must_be_quoted() {
        for (from, to, field) in [
            ("rate = \"0.25\"", "rate = 0.25", "renter.rate"),
            ("cap = \"1500000.5\"", "cap = 1500000.5", "renter.cap"),
            ("cap = \"3000000\"", "cap = 3000000", "supplier.cap"),
            ("subsidy_per_cap_year = \"500000000.00\"", "subsidy_per_cap_year = 5e8", "budget.subsidy_per_cap_year"),
            ("coverage = \"0.80\"", "coverage = 1", "vouchers.compute.coverage"),
            ("budget = \"2000000.00\"", "budget = 2_000_000", "vouchers.corpus.budget"),
            ("supplier_rate = \"0.15\"", "supplier_rate = 0.15", "rates[1].supplier_rate"),
        ] {
            let e = refused(&edit(from, to), field);
            assert!(matches!(e, ProgramError::Unquoted { .. }), "{e:?}");
            assert!(e.to_string().contains("quoted"), "{e}");
        }
        let e = refused(&edit("rate = \"0.25\"", "rate = true"), "renter.rate");
        assert!(matches!(e, ProgramError::WrongType { found: "boolean", .. }), "{e:?}");
    }

    #[test]
    fn wrong_types() {
        refused(&edit("id = \"test:full_1.0\"", "id = 2026"), "id");
        refused(&edit("name = ", "name = [\"x\"]\n# "), "name");
        refused(&edit("timezone = \"UTC\"", "timezone = 8"), "timezone");
        refused(&edit("cap_period = \"program\"", "cap_period = 1"), "cap_period");
        let e = refused(
            &edit("window_start = \"2026-01-01T00:00:00Z\"", "window_start = 2026-01-01T00:00:00Z"),
            "window_start",
        );
        assert!(matches!(e, ProgramError::WrongType { found: "datetime", .. }), "{e:?}");
        let no_budget = edit("[budget]\nsubsidy_per_cap_year = \"500000000.00\"\n", "");
        refused(&format!("budget = \"1.00\"\n{no_budget}"), "budget");
        refused(
            &format!("renter = \"0.30\"\n{}", edit("[renter]\nrate = \"0.25\"\ncap = \"1500000.5\"\n", "")),
            "renter",
        );
        refused(&edit("gpu_models = [\"MLU370-X8\"]", "gpu_models = \"MLU370-X8\""), "rates[2].gpu_models");
        refused(&edit("gpu_models = [\"MLU370-X8\"]", "gpu_models = [\"MLU370-X8\", 370]"), "rates[2].gpu_models[2]");
        let rates_as_table = &FULL[..FULL.find("[[rates]]").unwrap()];
        refused(&format!("{rates_as_table}[rates]\ngpu_models = [\"A\"]\nrenter_rate = \"0.1\"\n"), "rates");
    }

    #[test]
    fn decimals_too_many_places() {
        for (from, to, field) in [
            ("cap = \"1500000.5\"", "cap = \"1500000.505\"", "renter.cap"),
            ("rate = \"0.25\"", "rate = \"0.12345\"", "renter.rate"),
            ("coverage = \"0.80\"", "coverage = \"0.80000\"", "vouchers.compute.coverage"),
            ("holder_max = \"50000.00\"", "holder_max = \"50000.000\"", "vouchers.corpus.holder_max"),
            ("renter_rate = \"0.35\"", "renter_rate = \"0.35001\"", "rates[2].renter_rate"),
        ] {
            let e = refused(&edit(from, to), field);
            assert!(matches!(e, ProgramError::Decimal { source: DecimalError::Places { .. }, .. }), "{e:?}");
            assert!(e.to_string().contains("decimal places"), "{e}");
        }
    }

    #[test]
    fn decimals_that_are_not_plain() {
        for bad in ["", "1e6", "+1.00", "1,000.00", " 1.00", "one", "1."] {
            let e = refused(
                &edit("holder_max = \"300000.00\"", &format!("holder_max = {bad:?}")),
                "vouchers.compute.holder_max",
            );
            assert!(matches!(e, ProgramError::Decimal { .. }), "{bad:?}: {e:?}");
        }
    }

    #[test]
    fn negative_money_and_rates() {
        for (from, to, field) in [
            ("cap = \"3000000\"", "cap = \"-1.00\"", "supplier.cap"),
            (
                "subsidy_per_cap_year = \"500000000.00\"",
                "subsidy_per_cap_year = \"-0.01\"",
                "budget.subsidy_per_cap_year",
            ),
            ("budget = \"10000000.00\"", "budget = \"-5\"", "vouchers.compute.budget"),
            ("rate = \"0.125\"", "rate = \"-0.10\"", "supplier.rate"),
        ] {
            let e = refused(&edit(from, to), field);
            assert!(matches!(e, ProgramError::OutOfRange { .. }), "{e:?}");
        }
        // "-0" is zero, and zero caps and budgets are allowed (e.g. no corpus vouchers).
        let p = Program::from_toml(&edit("holder_max = \"50000.00\"", "holder_max = \"-0.00\"")).unwrap();
        assert!(p.corpus_voucher_holder_max.is_zero());
        assert!(p.to_toml().contains("holder_max = \"0.00\"\n"));
    }

    #[test]
    fn rates_above_one() {
        let e = refused(&edit("rate = \"0.25\"", "rate = \"1.01\""), "renter.rate");
        assert!(e.to_string().contains("between 0 and 1"), "{e}");
        refused(&edit("supplier_rate = \"0.15\"", "supplier_rate = \"1.5\""), "rates[1].supplier_rate");
        refused(&edit("renter_rate = \"0.35\"", "renter_rate = \"2\""), "rates[2].renter_rate");
        // The bounds themselves are fine.
        let p = Program::from_toml(&edit("rate = \"0.25\"", "rate = \"1\"")).unwrap();
        assert_eq!(p.renter_rate, Decimal::ONE);
        assert!(Program::from_toml(&edit("rate = \"0.125\"", "rate = \"0\"")).is_ok());
    }

    #[test]
    fn coverage_must_be_above_zero_and_at_most_one() {
        for bad in ["0", "0.00", "1.0001", "2"] {
            let e = refused(&edit("coverage = \"0.80\"", &format!("coverage = {bad:?}")), "vouchers.compute.coverage");
            assert!(e.to_string().contains("more than 0 and at most 1"), "{e}");
        }
        assert!(Program::from_toml(&edit("coverage = \"0.80\"", "coverage = \"0.0001\"")).is_ok());
    }

    #[test]
    fn money_above_the_program_maximum() {
        assert_eq!(PROGRAM_MONEY_MAX, d("1000000000000.00"));
        let at_max = edit("subsidy_per_cap_year = \"500000000.00\"", "subsidy_per_cap_year = \"1000000000000.00\"");
        assert!(Program::from_toml(&at_max).is_ok());
        let e = refused(
            &edit("subsidy_per_cap_year = \"500000000.00\"", "subsidy_per_cap_year = \"1000000000000.01\""),
            "budget.subsidy_per_cap_year",
        );
        assert!(e.to_string().contains("at most 1000000000000.00"), "{e}");
        refused(&edit("cap = \"3000000\"", &format!("cap = \"{}\"", "9".repeat(25))), "supplier.cap");
    }

    #[test]
    fn bad_window_times() {
        for bad in ["2026-01-01T00:00:00", "2026-01-01", "2026-02-30T00:00:00Z", "1999-12-31T00:00:00Z", "soon"] {
            let e = refused(&edit("\"2026-01-01T00:00:00Z\"", &format!("{bad:?}")), "window_start");
            assert!(matches!(e, ProgramError::Time { .. }), "{bad}: {e:?}");
        }
        refused(&edit("\"2028-01-01T00:00:00Z\"", "\"2028-01-01T00:00:00.5Z\""), "window_end");
    }

    #[test]
    fn window_start_must_be_before_end() {
        let e = refused(&edit("\"2028-01-01T00:00:00Z\"", "\"2026-01-01T00:00:00Z\""), "window_start");
        assert!(e.to_string().contains("`window_end`"), "{e}");
        refused(&edit("\"2028-01-01T00:00:00Z\"", "\"2025-12-31T23:59:59Z\""), "window_start");
        // Different offsets, same instant: still empty.
        refused(&edit("\"2028-01-01T00:00:00Z\"", "\"2026-01-01T08:00:00+08:00\""), "window_start");
        assert!(Program::from_toml(&edit("\"2028-01-01T00:00:00Z\"", "\"2026-01-01T00:00:01Z\"")).is_ok());
    }

    #[test]
    fn bad_cap_period() {
        for bad in ["yearly", "calendar_year", "Calendar-Year", "program ", ""] {
            let e = refused(&edit("\"program\"", &format!("{bad:?}")), "cap_period");
            assert!(e.to_string().contains("\"calendar-year\" or \"program\""), "{e}");
        }
    }

    #[test]
    fn bad_gpu_models() {
        refused(&edit("gpu_models = [\"MLU370-X8\"]", "gpu_models = []"), "rates[2].gpu_models");
        let e = refused(&edit("\"MLU370-X8\"]", "\"MLU370-X8\", \"\"]"), "rates[2].gpu_models[2]");
        assert!(matches!(e, ProgramError::Text { source: TextError::Empty, .. }), "{e:?}");
        let long = "X".repeat(33);
        let e = refused(&edit("\"MLU370-X8\"]", &format!("\"{long}\"]")), "rates[2].gpu_models[1]");
        assert!(matches!(e, ProgramError::Text { source: TextError::TooLong { .. }, .. }), "{e:?}");
        assert!(Program::from_toml(&edit("\"MLU370-X8\"]", &format!("\"{}\"]", "昇".repeat(32)))).is_ok());
        refused(&edit("\"MLU370-X8\"]", "\"MLU\\n370\"]"), "rates[2].gpu_models[1]");
    }

    #[test]
    fn duplicate_gpu_models() {
        let e = refused(&edit("\"MLU370-X8\"]", "\"MLU370-X8\", \"Ascend-910C\"]"), "rates[2].gpu_models[2]");
        assert!(e.to_string().contains("`rates[1].gpu_models[2]`"), "{e}");
        assert!(e.to_string().contains("\"Ascend-910C\""), "{e}");
        // Within one table too.
        refused(&edit("\"MLU370-X8\"]", "\"MLU370-X8\", \"MLU370-X8\"]"), "rates[2].gpu_models[2]");
        // Matching is case-sensitive, so differently cased names are different models.
        assert!(Program::from_toml(&edit("\"MLU370-X8\"]", "\"MLU370-X8\", \"ascend-910c\"]")).is_ok());
    }

    #[test]
    fn too_many_gpu_models() {
        let models: Vec<String> = (0..GPU_MODELS_MAX - 2).map(|i| format!("\"M{i}\"")).collect();
        let at_max = edit("\"MLU370-X8\"]", &format!("{}]", models.join(", ")));
        assert!(Program::from_toml(&at_max).is_ok());
        let models: Vec<String> = (0..GPU_MODELS_MAX - 1).map(|i| format!("\"M{i}\"")).collect();
        let over = edit("\"MLU370-X8\"]", &format!("{}]", models.join(", ")));
        refused(&over, &format!("rates[2].gpu_models[{}]", GPU_MODELS_MAX - 1));
    }

    #[test]
    fn rates_table_without_a_rate() {
        let e = refused(&edit("renter_rate = \"0.35\"\n", ""), "rates[2]");
        assert!(e.to_string().contains("`renter_rate`"), "{e}");
    }

    #[test]
    fn bad_id_and_name() {
        for bad in ["", "suzhou 2026", "suzhou/2026", "苏州", &"x".repeat(65)] {
            refused(&edit("\"test:full_1.0\"", &format!("{bad:?}")), "id");
        }
        assert!(Program::from_toml(&edit("\"test:full_1.0\"", &format!("{:?}", "x".repeat(64)))).is_ok());
        refused(&edit("name = \"全字段 \\\"test\\\" program \\\\ with escapes\"", "name = \"\""), "name");
        let e = refused(
            &edit(
                "name = \"全字段 \\\"test\\\" program \\\\ with escapes\"",
                &format!("name = \"{}\"", "字".repeat(201)),
            ),
            "name",
        );
        assert!(e.to_string().contains("201"), "{e}");
        refused(&edit("name = \"全字段 \\\"test\\\" program \\\\ with escapes\"", "name = \"line\\nbreak\""), "name");
    }

    #[test]
    fn validate_judges_a_program_built_in_code() {
        let base = Program::suzhou_2026();
        let check = |change: &dyn Fn(&mut Program), field: &str| {
            let mut p = base.clone();
            change(&mut p);
            let e = p.validate().expect_err("accepted");
            assert_eq!(e.field(), Some(field), "{e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        };
        check(&|p| p.utc_offset_seconds = 86_400, "timezone");
        check(&|p| p.utc_offset_seconds = 28_801, "timezone");
        check(&|p| p.window_start = 0, "window_start");
        check(&|p| p.window_end = UNIX_SECONDS_MAX, "window_end");
        check(&|p| p.window_end = p.window_start, "window_start");
        check(&|p| p.renter_rate = d("0.30001"), "renter.rate");
        check(&|p| p.renter_cap = d("0.001"), "renter.cap");
        check(&|p| p.supplier_cap = d("-2"), "supplier.cap");
        check(&|p| p.compute_voucher_coverage = Decimal::ZERO, "vouchers.compute.coverage");
        check(&|p| p.corpus_voucher_budget = Some(d("1e13")), "vouchers.corpus.budget");
        check(
            &|p| p.rates.push(GpuRate { gpu_models: vec!["H100".into()], renter_rate: None, supplier_rate: None }),
            "rates[1]",
        );
        assert_eq!(base.validate(), Ok(()));
    }

    #[test]
    fn syntax_error_position_is_counted_in_characters() {
        let e = Program::from_toml("name = \"苏州\"\nid = \"x\" junk\n").unwrap_err();
        assert!(matches!(e, ProgramError::Syntax { line: 2, column: 10, .. }), "{e:?}");
        let e = Program::from_toml("name = \"苏州\" junk").unwrap_err();
        assert!(matches!(e, ProgramError::Syntax { line: 1, column: 13, .. }), "{e:?}");
    }
}
