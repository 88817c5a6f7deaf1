"""Everything a caller hears or reads, in one package: the tool answers and their `say` sentences
(presenter.py), the speech helpers they are built from (phrases.py) and the texts sent by SMS (texts.py).

Why here, inside domain/, and not in webhook/ as the tool answers' natural home would be: texts are worded
in two more places that may not import webhook/: a confirmation's body is written by the use case, in the
transaction of the change it confirms (so it says what was true then), and a code's text by the `otp`
worker, just before sending. Keeping the three together means one place to read, review and translate.

Nothing else in domain/ builds a sentence: use cases return `domain.results` objects or raise
`model.Refused`, and `services.execute` takes the presenter as a parameter (`present`), so the runner
stores whatever answer the caller of `execute` chose to word. A second language is a sibling set of
modules implementing the same functions (`presenter.answer`, `texts.confirmation_body`,
`texts.otp_code_text`), chosen where `execute` is called and where texts are queued.
"""
