"""Operator tools: publishing the checkpoint and keeping its download links alive.

What a maintainer or the renewer's cron job runs, never the app: `publish`
(upload to S3, s3.py), `refresh` (presigned links, s3.py; the download pages'
link markers, doc_links.py; an optional commit and push of the manifest,
git.py), `cron print|install` (cron.py) and `has-credentials`. Only those
CLI commands import this package (commands.py holds them), so the runtime
part of indextts.weights (verify, build, plan) loads none of boto3, git or
crontab. Credentials come only from boto3's chain (environment, AWS profile,
instance role); nothing secret is logged or written: the manifest and the
docs get only the presigned URLs, which are meant to be shared.
"""
