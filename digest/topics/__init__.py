"""Topics: what subscribers follow. Curated topics come from `data/topics.toml` (`toml_file`),
personal ones from subscribers; `catalog` validates and stores both; `lab` ranks stored papers as a
topic would (`try_topic`) and replays a topic over past days (`test_topic`) for curators."""
