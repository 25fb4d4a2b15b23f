"""Runtimes that carry protocol messages between the coordinator and the parties.

* ``local``: every party in this process (:class:`federation.local_transport.LocalTransport`);
* ``simulation``: Flower's simulation runtime (Ray actors play the SuperNodes);
* ``deployment``: a SuperLink and one SuperNode per party, as separate processes or machines.

Nothing in this package looks at party data: it moves the messages the protocols build and
keeps each party's state at that party.
"""
