// Apps built with the default logger (examples, docs snippets) stay quiet in tests unless asked.
process.env.LOG_LEVEL ??= 'silent'
