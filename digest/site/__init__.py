"""The static archive: `build.build_site` gathers the public archive (`gather`), renders what changed
(`pages`, `profiles`, `feeds`), indexes search with Pagefind and swaps the new site in atomically."""
