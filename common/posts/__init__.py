"""Scheduled posts: the only code that writes a post (and so its status).

    scheduled --claim--> publishing --published / scheduled (retry, deferral) / failed / unknown
    scheduled|failed|unknown --operator--> canceled | scheduled (retry)
    draft --submit--> pending_approval --approve--> scheduled | --send back--> draft
    waiting (a follow-up) --its parent published--> scheduled | --a part above failed--> failed

One module per reason to change: `store` (creation, reads), `actions` (an operator's actions),
`queue` (the run's queries), `lease` (the claim and the claimed post's handle), `tasks` (Cloud
Tasks records), `listing` (pages and the API cursor), `reconcile`, `follow_ups` (first comments
and thread parts released, stopped, revived), `figures` (the status report's bounded counts),
`states` (filters from the table of starting states). Callers import the module they use
(`from common.posts import store`), so the status report loads neither the claim nor the
listing (a cold start spends its CPU on imports).
"""
