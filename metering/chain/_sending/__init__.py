"""The parts of :class:`metering.chain.sender.TransactionSender`, one job each (private: import from ``sender``).

* :mod:`.calls`: what is sent and what comes back (``Call``, ``SentTransaction``, a signed transaction);
* :mod:`.refusals`: what a node's refusal of ``eth_sendRawTransaction`` means;
* :mod:`.fees`: EIP-1559 (or legacy) fees, read once per few blocks;
* :mod:`.signing`: building and signing transactions in-process;
* :mod:`.reverts`: turning a revert or a failed receipt into the contract's named error;
* :mod:`.receipts`: waiting for receipts, re-broadcasting, and freeing what a development node left unmined;
* :mod:`.batches`: broadcasting many transactions in JSON-RPC batch requests and settling the refusals.
"""
