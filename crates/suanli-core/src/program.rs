//! TEMPORARY stand-in (replaced by the program branch): the program type only.
use rust_decimal::Decimal;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapPeriod {
    CalendarYear,
    Program,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRate {
    pub gpu_models: Vec<String>,
    pub renter_rate: Option<Decimal>,
    pub supplier_rate: Option<Decimal>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: String,
    pub name: String,
    pub utc_offset_seconds: i32,
    pub window_start: i64,
    pub window_end: i64,
    pub cap_period: CapPeriod,
    pub renter_rate: Decimal,
    pub renter_cap: Decimal,
    pub supplier_rate: Decimal,
    pub supplier_cap: Decimal,
    pub subsidy_budget: Option<Decimal>,
    pub compute_voucher_holder_max: Decimal,
    pub compute_voucher_coverage: Decimal,
    pub compute_voucher_budget: Option<Decimal>,
    pub corpus_voucher_holder_max: Decimal,
    pub corpus_voucher_budget: Option<Decimal>,
    pub rates: Vec<GpuRate>,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program error")]
pub struct ProgramError;
impl Program {
    pub fn from_toml(_text: &str) -> Result<Program, ProgramError> {
        Ok(Self::suzhou_2026())
    }
    pub fn to_toml(&self) -> String {
        "id = \"suzhou-2026\"\n".into()
    }
    pub fn preset(name: &str) -> Option<Program> {
        (name == "suzhou-2026").then(Self::suzhou_2026)
    }
    pub fn suzhou_2026() -> Program {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        Program {
            id: "suzhou-2026".into(),
            name: "suzhou".into(),
            utc_offset_seconds: 28800,
            window_start: crate::time::parse_rfc3339("2026-01-31T00:00:00+08:00").unwrap(),
            window_end: crate::time::parse_rfc3339("2027-01-31T00:00:00+08:00").unwrap(),
            cap_period: CapPeriod::CalendarYear,
            renter_rate: d("0.30"),
            renter_cap: d("2000000.00"),
            supplier_rate: d("0.10"),
            supplier_cap: d("2000000.00"),
            subsidy_budget: None,
            compute_voucher_holder_max: d("200000.00"),
            compute_voucher_coverage: d("1.00"),
            compute_voucher_budget: None,
            corpus_voucher_holder_max: d("100000.00"),
            corpus_voucher_budget: None,
            rates: vec![],
        }
    }
    pub fn validate(&self) -> Result<(), ProgramError> {
        Ok(())
    }
    pub fn rates_for(&self, gpu_model: &str) -> (Decimal, Decimal) {
        for r in &self.rates {
            if r.gpu_models.iter().any(|m| m == gpu_model) {
                return (
                    r.renter_rate.unwrap_or(self.renter_rate),
                    r.supplier_rate.unwrap_or(self.supplier_rate),
                );
            }
        }
        (self.renter_rate, self.supplier_rate)
    }
    pub fn in_window(&self, t: i64) -> bool {
        self.window_start <= t && t < self.window_end
    }
    pub fn cap_year(&self, t: i64) -> i32 {
        match self.cap_period {
            CapPeriod::CalendarYear => crate::time::year_at(t, self.utc_offset_seconds),
            CapPeriod::Program => crate::time::year_at(self.window_start, self.utc_offset_seconds),
        }
    }
}
