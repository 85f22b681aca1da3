"""Webhooks and notifications after a segment is formed (CONTRACT section 4).

The formation engine calls `dispatch.after_formation`, which only enqueues and writes
one small document; deliveries and e-mail run as RQ jobs (workers/notify_jobs.py).

| module | job |
|---|---|
| `events`        | the events of one formation and their batches (pure) |
| `retry`         | the retry policy of webhook deliveries, from settings (pure) |
| `webhooks`      | stored webhook subscriptions |
| `delivery`      | one signed POST of a batch, and its outcome on the webhook |
| `notifications` | in-app notifications and per-user notification settings |
| `mail`          | the formation e-mail and its sending over SMTP |
| `paging`        | the opaque cursor of the lists |
| `schemas`       | the API's marshmallow schemas |
| `dispatch`      | `after_formation`: what to enqueue and write after a formation |
"""
