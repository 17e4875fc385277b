"""Business hooks: a tenant's own systems asked synchronously at the key points of a
conversation (risk control, order lookup, routing), over signed HTTP or gRPC.

- `spec`: what a configured hook is and what it may answer (plain data, no ORM);
- `transport`: the HTTP (JSON) and gRPC calls, signed, under the hook's timeout;
- `runner`: the call with its failure mode, the tenant's concurrency bound and the turn's
  deadline, turning any trouble into the verdict the hook's failure mode says.
"""
