"""Blinded clinician review (issue 7): can experts tell real patients from artificial ones?

`study.create_study` draws and stores a study; `app.create_app` serves it (FastAPI);
`results.study_results` computes what the owner reads. Needs the `review` extra.
"""
