"""The web service (ASGI): sign-up, confirm, preferences, unsubscribe, feedback, SendGrid webhooks.
`app.create_app` builds it; `server.serve` runs it under uvicorn; `actions` and `preferences` are what
it does to the store, without HTTP; `webhooks` verifies and applies SendGrid's events; `feed` is a reader's private Atom feed and
`reader_routes` serves it and the preferences page's library upload."""
