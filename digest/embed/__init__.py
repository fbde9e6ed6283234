"""Stage 2, embed: sentence vectors for papers and queries, cached by (model, content hash).
Entry points: `encoder.embed_pending` (store every paper's vector), `encoder.encode_query` (one text),
`search.search_papers` (semantic search over stored vectors)."""
