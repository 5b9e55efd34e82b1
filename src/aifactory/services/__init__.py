"""One module per capability: each owns its transactions, applies decisions and emits audit
events. Services raise the errors of :mod:`aifactory.services.errors`; interfaces map them."""
