"""Services: one module per area. They take plain values, own the transaction
(`write_transaction`), and raise DomainError subclasses that change nothing."""
