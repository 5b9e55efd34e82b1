"""Pure rules on plain data: no database, no HTTP, no subprocess, no clock of their own."""
