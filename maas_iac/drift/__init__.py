"""Runtime drift: what actually runs, compared with the stack's state.

:mod:`~maas_iac.drift.runtime` checks each replica's image digest and the versions its model
server reports AVAILABLE, the routers, stray containers and the declared topic configuration;
:mod:`~maas_iac.drift.services` tells an unreachable service from a user's mistake.
"""
