"""Operations: `init` (a working folder), `demo` (the whole product offline), `status`, `backup`
and `doctor` (the pre-flight check), and `lease` (one holder at a time for the daily run)."""
