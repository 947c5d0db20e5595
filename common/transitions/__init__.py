"""The post state machine, pure: no I/O, no clock, no database driver (an import contract).

`policy`: `decide(event, post, account, rules, now)`, what happens to a claimed post next.
`starts`: the one table of the states every action on a post may start from (ALLOWED), the
filters of common.posts and the refusals explained to operators both read from it.
Callers import the module they use, so the posts' filters, which read the table, do not load
the policy (a cold start spends its CPU on imports).
"""
