"""RDF namespaces used by the DCAT-AP model (plain strings: cheap to concatenate, hashable, engine-neutral)."""

ADMS = "http://www.w3.org/ns/adms#"
DCAT = "http://www.w3.org/ns/dcat#"
DCATAP = "http://data.europa.eu/r5r/"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
GSP = "http://www.opengis.net/ont/geosparql#"
HYDRA = "http://www.w3.org/ns/hydra/core#"
LOCN = "http://www.w3.org/ns/locn#"
OWL = "http://www.w3.org/2002/07/owl#"
PROV = "http://www.w3.org/ns/prov#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SCHEMA = "http://schema.org/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SPDX = "http://spdx.org/rdf/terms#"
VCARD = "http://www.w3.org/2006/vcard/ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"

RDF_TYPE = RDF + "type"

PREFIXES = {
    "adms": ADMS,
    "dcat": DCAT,
    "dcatap": DCATAP,
    "dct": DCT,
    "foaf": FOAF,
    "gsp": GSP,
    "hydra": HYDRA,
    "locn": LOCN,
    "owl": OWL,
    "prov": PROV,
    "rdf": RDF,
    "rdfs": RDFS,
    "schema": SCHEMA,
    "skos": SKOS,
    "spdx": SPDX,
    "vcard": VCARD,
    "xsd": XSD,
}
