"""TL;DR lines for each card: the abstract sentence closest to what the reader follows
(`extractive`, offline, the default) or a two-sentence summary in the reader's language from an
OpenAI-compatible endpoint (`llm`), made in the day's run before rendering (`stage.summarise_issue`).
"""
