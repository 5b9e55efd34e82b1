"""Master key rotation: every dataset's data key is unwrapped with the key that wrapped it
and wrapped again with the current master key; chunks are not touched."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.data_tables import Dataset
from aifactory.services import audit
from aifactory.services.data.stores import DataPlane
from aifactory.services.errors import Forbidden
from aifactory.services.identity import Principal


def rotate(session: Session, principal: Principal, plane: DataPlane) -> tuple[str, int]:
    if not principal.is_admin:
        raise Forbidden("only admins rotate the master key")
    ring = plane.reload_keyring()
    count = 0
    for ds in session.execute(
        select(Dataset).where(Dataset.key_id != ring.current).with_for_update()
    ).scalars():
        data_key = ring.unwrap(ds.key_id, ds.wrapped_key, ds.id)
        ds.key_id, ds.wrapped_key = ring.wrap(data_key, ds.id)
        count += 1
    audit.append(
        session,
        actor=principal.user_id,
        action="data.keys.rotate",
        object_type="keyring",
        object_id=ring.current,
        data={"rewrapped": count},
    )
    return ring.current, count
