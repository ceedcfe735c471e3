"""DCAT-AP 3.0 model, vocabularies and the normalisers that map harvested values onto them."""
