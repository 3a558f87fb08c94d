//! Metric families built at scrape time (task statistics, store sizes):
//! samples are added by name and come out as the `prometheus` crate's
//! families, ready for its text encoder.

use std::collections::BTreeMap;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// Families under construction, keyed (and so sorted) by name.
#[derive(Default)]
pub struct Families {
    map: BTreeMap<String, MetricFamily>,
}

impl Families {
    /// Adds a gauge sample to family `name`.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut g = Gauge::default();
        g.set_value(value);
        let mut m = Metric::from_gauge(g);
        m.set_label(label_pairs(labels));
        self.push(name, help, MetricType::GAUGE, m);
    }

    /// Adds a counter sample to family `name`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut c = Counter::default();
        c.set_value(value);
        let mut m = Metric::from_label(label_pairs(labels));
        m.set_counter(c);
        self.push(name, help, MetricType::COUNTER, m);
    }

    /// A family keeps the type of its first sample; a sample of another
    /// type under the same name is dropped (the format allows one type).
    fn push(&mut self, name: &str, help: &str, kind: MetricType, metric: Metric) {
        let family = self.map.entry(name.to_owned()).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(name.to_owned());
            f.set_help(help.to_owned());
            f.set_field_type(kind);
            f
        });
        if family.get_field_type() == kind {
            family.mut_metric().push(metric);
        }
    }

    /// The families, sorted by name.
    pub fn into_vec(self) -> Vec<MetricFamily> {
        self.map.into_values().collect()
    }
}

fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(name, value)| {
            let mut l = LabelPair::default();
            l.set_name((*name).to_owned());
            l.set_value((*value).to_owned());
            l
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn samples_group_by_name_and_keep_the_first_type() {
        let mut f = Families::default();
        f.gauge("b_bytes", "B.", &[("x", "1")], 2.0);
        f.gauge("b_bytes", "B.", &[("x", "2")], 3.0);
        f.counter("b_bytes", "B.", &[("x", "3")], 4.0);
        f.counter("a_total", "A.", &[], 1.0);
        let families = f.into_vec();
        let names: Vec<_> = families.iter().map(|f| f.name().to_owned()).collect();
        assert_eq!(names, ["a_total", "b_bytes"]);
        assert_eq!(families[1].get_metric().len(), 2);
        assert_eq!(families[1].get_field_type(), MetricType::GAUGE);
        assert_eq!(families[1].get_metric()[1].get_label()[0].value(), "2");
    }
}
