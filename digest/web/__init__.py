"""The web service (ASGI): sign-up, confirm, preferences, unsubscribe, feedback, SendGrid webhooks.
`app.create_app` builds it (sign-up and confirm; `personal` the token-link pages, `context` what
every route shares); `server.serve` runs it under uvicorn; `actions`, `preferences` and `mailing`
are what it does to the store and sends, without HTTP; `webhooks` verifies and applies SendGrid's
events."""
