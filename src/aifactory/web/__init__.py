"""The web portal: server-rendered pages (Jinja2) over the same services the API uses.

So far the pages the account mails link to: verifying an e-mail address and resetting a
password. Every page is readable without JavaScript and uses no asset from outside."""
