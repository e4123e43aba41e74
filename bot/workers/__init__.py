"""Background threads with run_once(now) and a start()/stop() lifecycle: the sender, the balance watch."""
