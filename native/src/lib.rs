//! fedcat's facet counting over the embedded tantivy index (`fedcat._native`).
//!
//! tantivy's terms aggregations cost ~5x the query itself in CPU for 88,000 hits of 1,000,000 documents
//! (per-bucket bookkeeping, each column counted apart, then the buckets turned into Python dicts). Here
//! one custom collector walks the hits once and counts every facet value of each hit into one dense array
//! (value ids are small dense integers: the index's dictionary), from a per-segment table of each
//! document's values (`SegmentTable`).
//! The index is opened read-only from the directory the Python side writes, with the tantivy version
//! tantivy-py bundles. The query arrives as the small JSON tree `indexer.embedded` also turns into
//! tantivy-py queries, so both paths count the same documents; scores play no part in counting.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex};
use tantivy::index::SegmentId;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Schema};
use tantivy::{DocId, Index, IndexReader, ReloadPolicy, Score, SegmentReader, Term};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The value id no value has (a slot column's "no value"); never counted.
const NO_VALUE: u64 = 0;
/// A facet's counts are a dense array indexed by value id: ids beyond this would make it wasteful.
const MAX_VALUE_ID: u64 = 1 << 26;

fn bad(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

fn field(schema: &Schema, name: &str) -> PyResult<tantivy::schema::Field> {
    schema
        .get_field(name)
        .map_err(|_| bad(format!("no field {name:?} in the index")))
}

fn bound(
    value: &Value,
    make: impl Fn(&Value) -> PyResult<Term>,
) -> PyResult<std::ops::Bound<Term>> {
    use std::ops::Bound::{Included, Unbounded};
    Ok(if value.is_null() {
        Unbounded
    } else {
        Included(make(value)?)
    })
}

/// The query of a JSON tree (see `indexer.embedded._spec`):
/// ["all"], ["none"], ["exists", field], ["term", field, str | int, boost],
/// ["range", field, "i64" | "f64", low | null, high | null] (inclusive), ["must", [..]], ["should", [..]],
/// ["filter", tree] (a constant score: the same documents).
fn build(schema: &Schema, node: &Value) -> PyResult<Box<dyn Query>> {
    let parts = node
        .as_array()
        .ok_or_else(|| bad("a query node is an array"))?;
    let kind = parts
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a query node starts with its kind"))?;
    let arg = |i: usize| {
        parts
            .get(i)
            .ok_or_else(|| bad(format!("{kind}: argument {i} missing")))
    };
    let name = |i: usize| {
        arg(i)?
            .as_str()
            .ok_or_else(|| bad(format!("{kind}: field name expected")))
    };
    Ok(match kind {
        "all" => Box::new(AllQuery),
        "none" => Box::new(EmptyQuery),
        "exists" => Box::new(ExistsQuery::new(name(1)?.to_string(), false)),
        "term" => {
            let f = field(schema, name(1)?)?;
            let term = match arg(2)? {
                Value::String(text) => Term::from_field_text(f, text),
                Value::Number(n) => {
                    Term::from_field_u64(f, n.as_u64().ok_or_else(|| bad("term: u64 expected"))?)
                }
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
                        v.as_i64()
                            .map(|x| Term::from_field_i64(f, x))
                            .ok_or_else(|| bad("range: i64 expected"))
                    };
                    Box::new(RangeQuery::new(bound(low, term)?, bound(high, term)?))
                }
                Some("f64") => {
                    let term = |v: &Value| {
                        v.as_f64()
                            .map(|x| Term::from_field_f64(f, x))
                            .ok_or_else(|| bad("range: f64 expected"))
                    };
                    Box::new(RangeQuery::new(bound(low, term)?, bound(high, term)?))
                }
                _ => return Err(bad("range: type i64 or f64 expected")),
            }
        }
        "must" | "should" => {
            let occur = if kind == "must" {
                Occur::Must
            } else {
                Occur::Should
            };
            let children = arg(1)?
                .as_array()
                .ok_or_else(|| bad(format!("{kind}: a list expected")))?;
            let clauses = children
                .iter()
                .map(|c| Ok((occur, build(schema, c)?)))
                .collect::<PyResult<Vec<_>>>()?;
            Box::new(BooleanQuery::new(clauses))
        }
        "filter" => build(schema, arg(1)?)?,
        other => return Err(bad(format!("unknown query node {other:?}"))),
    })
}

/// A segment's facet values laid out by document: the values of every facet of document `d` are
/// `values[offsets[d]..offsets[d + 1]]`. Value ids are global (the dictionary names each for one facet),
/// so one array of counts takes them all and `facet_of` tells their facets apart at the end. Segments never
/// change, so a table is decoded once per segment (deleted documents are the collector framework's concern:
/// they are never collected). A hit then costs two offsets and one short run of ids, where reading each
/// facet column apart costs a multi-valued lookup per facet per hit (~2x the time, 88,000 hits of 1M).
struct SegmentTable {
    offsets: Vec<u32>,
    values: Ids,
    facet_of: Vec<u8>, // value id -> index of its facet in `FacetCounter.fields`, NONE if not in this segment
}

const NONE: u8 = u8::MAX;

/// Value ids in 16 bits while the dictionary is small enough: half the memory, and a hit's ids span fewer
/// cache lines (counting a common word waits mostly on memory, not on arithmetic).
enum Ids {
    Short(Vec<u16>),
    Long(Vec<u32>),
}

fn count_rows<T: Copy + Into<u32>>(
    offsets: &[u32],
    values: &[T],
    counts: &mut [u32],
    docs: &[DocId],
) {
    // The hits of a common word lie ~10 documents apart: each row is a cache miss. The bounds of a block's
    // rows are read first, all at once (independent loads the processor overlaps), then the rows.
    let mut rows = [(0u32, 0u32); 64];
    for chunk in docs.chunks(rows.len()) {
        for (row, &doc) in rows.iter_mut().zip(chunk) {
            *row = (offsets[doc as usize], offsets[doc as usize + 1]);
        }
        for &(start, end) in &rows[..chunk.len()] {
            for &value in &values[start as usize..end as usize] {
                counts[value.into() as usize] += 1;
            }
        }
    }
}

impl SegmentTable {
    fn decode(reader: &SegmentReader, fields: &[String]) -> tantivy::Result<SegmentTable> {
        let columns = fields
            .iter()
            .map(|name| reader.fast_fields().u64(name))
            .collect::<tantivy::Result<Vec<Column<u64>>>>()?;
        let mut max = 0;
        for (name, column) in fields.iter().zip(&columns) {
            if !matches!(column.index, ColumnIndex::Empty { .. }) {
                max = max.max(column.max_value());
            }
            if max >= MAX_VALUE_ID {
                return Err(tantivy::TantivyError::InvalidArgument(format!(
                    "facet {name} holds value id {max}: too large to count densely"
                )));
            }
        }
        let docs = reader.max_doc();
        let mut offsets = Vec::with_capacity(docs as usize + 1);
        let mut values = Vec::new();
        let mut facet_of = vec![NONE; max as usize + 1];
        offsets.push(0);
        for doc in 0..docs {
            for (facet, column) in columns.iter().enumerate() {
                for value in column.values_for_doc(doc) {
                    values.push(value as u32);
                    facet_of[value as usize] = facet as u8;
                }
            }
            offsets.push(values.len() as u32);
        }
        let values = if max <= u16::MAX as u64 {
            Ids::Short(values.into_iter().map(|v| v as u16).collect())
        } else {
            Ids::Long(values)
        };
        Ok(SegmentTable {
            offsets,
            values,
            facet_of,
        })
    }
}

/// Counts the documents holding each value id, over every facet at once.
struct FacetCollector<'a> {
    counter: &'a FacetCounter,
}

struct SegmentFacets {
    table: Arc<SegmentTable>,
    counts: Vec<u32>,
    hits: u64,
}

struct Counted {
    hits: u64,
    counts: Vec<(Arc<SegmentTable>, Vec<u32>)>,
}

impl Collector for FacetCollector<'_> {
    type Fruit = Counted;
    type Child = SegmentFacets;

    fn for_segment(&self, _ord: u32, reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let table = self.counter.table(reader)?;
        let counts = vec![0u32; table.facet_of.len()];
        Ok(SegmentFacets {
            table,
            counts,
            hits: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counted>) -> tantivy::Result<Counted> {
        let mut merged = Counted {
            hits: 0,
            counts: Vec::new(),
        };
        for fruit in fruits {
            merged.hits += fruit.hits;
            merged.counts.extend(fruit.counts);
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Counted;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.hits += docs.len() as u64;
        match &self.table.values {
            Ids::Short(values) => count_rows(&self.table.offsets, values, &mut self.counts, docs),
            Ids::Long(values) => count_rows(&self.table.offsets, values, &mut self.counts, docs),
        }
    }

    fn harvest(self) -> Counted {
        Counted {
            hits: self.hits,
            counts: vec![(self.table, self.counts)],
        }
    }
}

/// The facet fields of one index directory, counted over the documents a query matches.
#[pyclass(frozen, module = "fedcat._native")]
struct FacetCounter {
    index: Index,
    reader: IndexReader,
    fields: Vec<String>,
    tables: Mutex<HashMap<SegmentId, Arc<SegmentTable>>>,
}

impl FacetCounter {
    fn table(&self, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentTable>> {
        let id = reader.segment_id();
        if let Some(table) = self.tables.lock().unwrap().get(&id) {
            return Ok(table.clone());
        }
        // decoded outside the lock: two threads may decode the same segment, one table is kept
        let table = Arc::new(SegmentTable::decode(reader, &self.fields)?);
        Ok(self
            .tables
            .lock()
            .unwrap()
            .entry(id)
            .or_insert(table)
            .clone())
    }
}

#[pymethods]
impl FacetCounter {
    /// `fields`: the facet fields (multi-valued u64 fast fields of value ids) that counts may be asked of.
    #[new]
    fn new(path: &str, fields: Vec<String>) -> PyResult<Self> {
        if fields.len() >= NONE as usize {
            return Err(bad("too many facet fields"));
        }
        let index =
            Index::open_in_dir(path).map_err(|e| PyOSError::new_err(format!("{path}: {e}")))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| PyOSError::new_err(format!("{path}: {e}")))?;
        let schema = index.schema();
        for name in &fields {
            field(&schema, name)?;
        }
        Ok(FacetCounter {
            index,
            reader,
            fields,
            tables: Mutex::new(HashMap::new()),
        })
    }

    /// See the latest commit (the Python side calls it whenever it reloads its own searcher), and forget
    /// the tables of segments gone (merged away).
    fn reload(&self) -> PyResult<()> {
        self.reader
            .reload()
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        let searcher = self.reader.searcher();
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.tables
            .lock()
            .unwrap()
            .retain(|id, _| live.contains(id));
        Ok(())
    }

    /// (hits, for each of `facets` (names among `fields`) the (value id, count) pairs whose count reaches
    /// the `wanted`-th largest count of that facet, so that values tied with it are all there).
    #[pyo3(signature = (query, facets, wanted))]
    fn count(
        &self,
        py: Python<'_>,
        query: &str,
        facets: Vec<String>,
        wanted: usize,
    ) -> PyResult<(u64, Vec<Vec<(u64, u32)>>)> {
        let tree: Value = serde_json::from_str(query).map_err(|e| bad(format!("query: {e}")))?;
        let schema = self.index.schema();
        let query = build(&schema, &tree)?;
        let mut asked = vec![usize::MAX; self.fields.len()]; // field index -> position in `facets`
        for (at, name) in facets.iter().enumerate() {
            let i = self.fields.iter().position(|f| f == name);
            asked[i.ok_or_else(|| bad(format!("not a facet field: {name:?}")))?] = at;
        }
        let searcher = self.reader.searcher();
        py.detach(|| {
            let counted = searcher.search(query.as_ref(), &FacetCollector { counter: self })?;
            let mut totals: Vec<u32> = Vec::new();
            let mut facet_of: Vec<u8> = Vec::new();
            for (table, counts) in &counted.counts {
                if totals.len() < counts.len() {
                    totals.resize(counts.len(), 0);
                    facet_of.resize(counts.len(), NONE);
                }
                for (id, &c) in counts.iter().enumerate() {
                    if c > 0 {
                        totals[id] += c;
                        facet_of[id] = table.facet_of[id];
                    }
                }
            }
            let mut found: Vec<Vec<(u64, u32)>> = vec![Vec::new(); facets.len()];
            for (id, (&c, &facet)) in totals.iter().zip(&facet_of).enumerate() {
                if c > 0
                    && id as u64 != NO_VALUE
                    && facet != NONE
                    && asked[facet as usize] != usize::MAX
                {
                    found[asked[facet as usize]].push((id as u64, c));
                }
            }
            let tops = found.into_iter().map(|pairs| top(pairs, wanted)).collect();
            Ok::<_, tantivy::TantivyError>((counted.hits, tops))
        })
        .map_err(|e| bad(e.to_string()))
    }
}

/// The (id, count) pairs counted at least as often as the `wanted`-th most counted value.
fn top(mut found: Vec<(u64, u32)>, wanted: usize) -> Vec<(u64, u32)> {
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
