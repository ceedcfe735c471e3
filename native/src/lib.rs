//! fedcat's facet counting over the embedded tantivy index (`fedcat._native`).
//!
//! tantivy's terms aggregations floor at ~15 ms of CPU for 88,000 hits of a 1,000,000-document index
//! (per-bucket bookkeeping, each column counted apart, then the buckets turned into Python dicts). Here
//! one custom collector walks the hits once and, per segment, reads every requested facet column into
//! one dense array of counts per facet (value ids are small dense integers: the index's dictionary).
//! The index is opened read-only from the directory the Python side writes, with the tantivy version
//! tantivy-py bundles. The query arrives as the small JSON tree `indexer.embedded` also turns into
//! tantivy-py queries, so both paths count the same documents; scores play no part in counting.

use std::ops::Bound;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Schema};
use tantivy::{DocId, Index, IndexReader, ReloadPolicy, Score, SegmentReader, Term};

/// The value id no value has (a slot column's "no value"); never counted.
const NO_VALUE: u64 = 0;
/// A facet's counts are a dense array indexed by value id: ids beyond this would make it wasteful.
const MAX_VALUE_ID: u64 = 1 << 26;
/// Documents counted together when they come one by one.
const BLOCK: usize = 1024;

fn bad(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

fn field(schema: &Schema, name: &str) -> PyResult<tantivy::schema::Field> {
    schema.get_field(name).map_err(|_| bad(format!("no field {name:?} in the index")))
}

fn bound(value: &Value, make: impl Fn(&Value) -> PyResult<Term>) -> PyResult<Bound<Term>> {
    Ok(if value.is_null() { Bound::Unbounded } else { Bound::Included(make(value)?) })
}

/// The query of a JSON tree (see `indexer.embedded._spec`):
/// ["all"], ["none"], ["exists", field], ["term", field, str | int, boost],
/// ["range", field, "i64" | "f64", low | null, high | null] (inclusive), ["must", [..]], ["should", [..]],
/// ["filter", tree] (a constant score: the same documents).
fn build(schema: &Schema, node: &Value) -> PyResult<Box<dyn Query>> {
    let parts = node.as_array().ok_or_else(|| bad("a query node is an array"))?;
    let kind = parts.first().and_then(Value::as_str).ok_or_else(|| bad("a query node starts with its kind"))?;
    let arg = |i: usize| parts.get(i).ok_or_else(|| bad(format!("{kind}: argument {i} missing")));
    let name = |i: usize| arg(i)?.as_str().ok_or_else(|| bad(format!("{kind}: field name expected")));
    Ok(match kind {
        "all" => Box::new(AllQuery),
        "none" => Box::new(EmptyQuery),
        "exists" => Box::new(ExistsQuery::new(name(1)?.to_string(), false)),
        "term" => {
            let f = field(schema, name(1)?)?;
            let term = match arg(2)? {
                Value::String(text) => Term::from_field_text(f, text),
                Value::Number(n) => Term::from_field_u64(f, n.as_u64().ok_or_else(|| bad("term: u64 expected"))?),
                _ => return Err(bad("term: a string or an unsigned integer expected")),
            };
            Box::new(TermQuery::new(term, IndexRecordOption::Basic))
        }
        "range" => {
            let f = field(schema, name(1)?)?;
            let (low, high) = (arg(3)?, arg(4)?);
            match arg(2)?.as_str() {
                Some("i64") => {
                    let term = |v: &Value| {
                        v.as_i64().map(|x| Term::from_field_i64(f, x)).ok_or_else(|| bad("range: i64 expected"))
                    };
                    Box::new(RangeQuery::new(bound(low, term)?, bound(high, term)?))
                }
                Some("f64") => {
                    let term = |v: &Value| {
                        v.as_f64().map(|x| Term::from_field_f64(f, x)).ok_or_else(|| bad("range: f64 expected"))
                    };
                    Box::new(RangeQuery::new(bound(low, term)?, bound(high, term)?))
                }
                _ => return Err(bad("range: type i64 or f64 expected")),
            }
        }
        "must" | "should" => {
            let occur = if kind == "must" { Occur::Must } else { Occur::Should };
            let children = arg(1)?.as_array().ok_or_else(|| bad(format!("{kind}: a list expected")))?;
            let clauses = children.iter().map(|c| Ok((occur, build(schema, c)?))).collect::<PyResult<Vec<_>>>()?;
            Box::new(BooleanQuery::new(clauses))
        }
        "filter" => build(schema, arg(1)?)?,
        other => return Err(bad(format!("unknown query node {other:?}"))),
    })
}

/// Counts, per facet, the documents holding each value id over every column of the facet.
struct FacetCollector {
    facets: Vec<Vec<String>>,
}

struct SegmentFacets {
    columns: Vec<(usize, Column<u64>)>, // (facet, column)
    counts: Vec<Vec<u32>>,
    hits: u64,
    pending: Vec<DocId>, // documents collected one by one (a segment with deletions), counted by blocks
    rows: Vec<u32>,
    values: Vec<u64>,
}

struct Counted {
    hits: u64,
    counts: Vec<Vec<u32>>,
}

impl Collector for FacetCollector {
    type Fruit = Counted;
    type Child = SegmentFacets;

    fn for_segment(&self, _ord: u32, reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let mut columns = Vec::new();
        let mut counts = Vec::with_capacity(self.facets.len());
        for (facet, names) in self.facets.iter().enumerate() {
            let mut size = 0;
            for name in names {
                let column = reader.fast_fields().u64(name)?;
                if matches!(column.index, ColumnIndex::Empty { .. }) {
                    continue;
                }
                let max = column.max_value();
                if max >= MAX_VALUE_ID {
                    return Err(tantivy::TantivyError::InvalidArgument(format!(
                        "facet column {name} holds value id {max}: too large to count densely"
                    )));
                }
                size = size.max(max as usize + 1);
                columns.push((facet, column));
            }
            counts.push(vec![0u32; size]);
        }
        Ok(SegmentFacets { columns, counts, hits: 0, pending: Vec::new(), rows: Vec::new(), values: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counted>) -> tantivy::Result<Counted> {
        let mut merged = Counted { hits: 0, counts: vec![Vec::new(); self.facets.len()] };
        for fruit in fruits {
            merged.hits += fruit.hits;
            for (total, counts) in merged.counts.iter_mut().zip(fruit.counts) {
                if total.len() < counts.len() {
                    total.resize(counts.len(), 0);
                }
                for (t, c) in total.iter_mut().zip(counts) {
                    *t += c;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Counted;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.pending.push(doc);
        if self.pending.len() == BLOCK {
            self.flush();
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.count(docs);
    }

    fn harvest(mut self) -> Counted {
        self.flush();
        Counted { hits: self.hits, counts: self.counts }
    }
}

impl SegmentFacets {
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.count(&pending);
        self.pending = pending;
        self.pending.clear();
    }

    fn count(&mut self, docs: &[DocId]) {
        self.hits += docs.len() as u64;
        for (facet, column) in &self.columns {
            let counts = &mut self.counts[*facet];
            match &column.index {
                // one value per document, row id = doc id: read the block's values at once
                ColumnIndex::Full => {
                    self.values.resize(docs.len(), 0);
                    column.values.get_vals(docs, &mut self.values);
                    for &value in &self.values {
                        counts[value as usize] += 1;
                    }
                }
                ColumnIndex::Empty { .. } => {}
                index => {
                    self.rows.clear();
                    for &doc in docs {
                        self.rows.extend(index.value_row_ids(doc));
                    }
                    self.values.resize(self.rows.len(), 0);
                    column.values.get_vals(&self.rows, &mut self.values);
                    for &value in &self.values {
                        counts[value as usize] += 1;
                    }
                }
            }
        }
    }
}

/// The facet columns of one index directory, counted over the documents a query matches.
#[pyclass(frozen, module = "fedcat._native")]
struct FacetCounter {
    index: Index,
    reader: IndexReader,
}

#[pymethods]
impl FacetCounter {
    #[new]
    fn new(path: &str) -> PyResult<Self> {
        let index = Index::open_in_dir(path).map_err(|e| PyOSError::new_err(format!("{path}: {e}")))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| PyOSError::new_err(format!("{path}: {e}")))?;
        Ok(FacetCounter { index, reader })
    }

    /// See the latest commit (the Python side calls it whenever it reloads its own searcher).
    fn reload(&self) -> PyResult<()> {
        self.reader.reload().map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// (hits, per facet the (value id, count) pairs whose count reaches the `wanted`-th largest count of
    /// that facet, so that values tied with it are all there): `facets` lists each facet's columns.
    #[pyo3(signature = (query, facets, wanted))]
    fn count(
        &self,
        py: Python<'_>,
        query: &str,
        facets: Vec<Vec<String>>,
        wanted: usize,
    ) -> PyResult<(u64, Vec<Vec<(u64, u32)>>)> {
        let tree: Value = serde_json::from_str(query).map_err(|e| bad(format!("query: {e}")))?;
        let schema = self.index.schema();
        let query = build(&schema, &tree)?;
        let searcher = self.reader.searcher();
        let counted = py
            .detach(|| searcher.search(query.as_ref(), &FacetCollector { facets }))
            .map_err(|e| bad(e.to_string()))?;
        let tops = counted.counts.into_iter().map(|counts| top(counts, wanted)).collect();
        Ok((counted.hits, tops))
    }
}

/// The (id, count) pairs counted at least as often as the `wanted`-th most counted value.
fn top(counts: Vec<u32>, wanted: usize) -> Vec<(u64, u32)> {
    let mut found: Vec<(u64, u32)> = counts
        .into_iter()
        .enumerate()
        .filter(|&(id, c)| c > 0 && id as u64 != NO_VALUE)
        .map(|(id, c)| (id as u64, c))
        .collect();
    if wanted > 0 && found.len() > wanted {
        let mut by_count: Vec<u32> = found.iter().map(|&(_, c)| c).collect();
        let (_, &mut floor, _) = by_count.select_nth_unstable_by(wanted - 1, |a, b| b.cmp(a));
        found.retain(|&(_, c)| c >= floor);
    }
    found
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FacetCounter>()?;
    Ok(())
}
