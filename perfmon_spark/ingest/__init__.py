"""From raw input rows to resolved rows: validation (bad rows keep their reason), de-duplication
of predictions, and label resolution as of ``as_of``. ``columns`` declares the frame it returns."""
