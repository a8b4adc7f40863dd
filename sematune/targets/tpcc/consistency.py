"""The TPC-C consistency conditions (clause 3.3.2) as SQL; used by tests after a run.

Each check counts the warehouses, districts, orders or customers that violate a condition;
an empty result from :func:`check_consistency` means the database is consistent.
"""

from __future__ import annotations

from typing import Any

#: condition number → (description, SQL returning the number of violating rows)
CONDITIONS: dict[int, tuple[str, str]] = {
    1: ("W_YTD = sum(D_YTD)",
        "SELECT count(*) FROM warehouse w WHERE w.w_ytd <> "
        "(SELECT sum(d_ytd) FROM district WHERE d_w_id = w.w_id)"),
    2: ("D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)",
        "SELECT count(*) FROM district d WHERE d.d_next_o_id - 1 <> "
        "(SELECT max(o_id) FROM orders WHERE o_w_id = d.d_w_id AND o_d_id = d.d_id) "
        "OR d.d_next_o_id - 1 <> coalesce((SELECT max(no_o_id) FROM new_order "
        "WHERE no_w_id = d.d_w_id AND no_d_id = d.d_id), d.d_next_o_id - 1)"),
    3: ("max(NO_O_ID) - min(NO_O_ID) + 1 = count(NEW-ORDER rows)",
        "SELECT count(*) FROM (SELECT max(no_o_id) - min(no_o_id) + 1 AS span, count(*) AS n "
        "FROM new_order GROUP BY no_w_id, no_d_id) x WHERE span <> n"),
    4: ("sum(O_OL_CNT) = count(ORDER-LINE rows) per district",
        "SELECT count(*) FROM (SELECT o_w_id, o_d_id, sum(o_ol_cnt) AS s FROM orders GROUP BY 1, 2) o "
        "FULL JOIN (SELECT ol_w_id, ol_d_id, count(*) AS n FROM order_line GROUP BY 1, 2) l "
        "ON o.o_w_id = l.ol_w_id AND o.o_d_id = l.ol_d_id WHERE o.s IS DISTINCT FROM l.n"),
    5: ("O_CARRIER_ID is null exactly for orders with a NEW-ORDER row",
        "SELECT count(*) FROM orders o LEFT JOIN new_order n "
        "ON n.no_w_id = o.o_w_id AND n.no_d_id = o.o_d_id AND n.no_o_id = o.o_id "
        "WHERE (o.o_carrier_id IS NULL) <> (n.no_o_id IS NOT NULL)"),
    6: ("O_OL_CNT = number of the order's lines",
        "SELECT count(*) FROM orders o LEFT JOIN (SELECT ol_w_id, ol_d_id, ol_o_id, count(*) AS n "
        "FROM order_line GROUP BY 1, 2, 3) l ON l.ol_w_id = o.o_w_id AND l.ol_d_id = o.o_d_id "
        "AND l.ol_o_id = o.o_id WHERE o.o_ol_cnt IS DISTINCT FROM l.n"),
    7: ("OL_DELIVERY_D is null exactly when O_CARRIER_ID is null",
        "SELECT count(*) FROM order_line l JOIN orders o ON o.o_w_id = l.ol_w_id AND o.o_d_id = l.ol_d_id "
        "AND o.o_id = l.ol_o_id WHERE (l.ol_delivery_d IS NULL) <> (o.o_carrier_id IS NULL)"),
    8: ("W_YTD = sum(H_AMOUNT) of the warehouse's history",
        "SELECT count(*) FROM warehouse w WHERE w.w_ytd <> "
        "(SELECT coalesce(sum(h_amount), 0) FROM history WHERE h_w_id = w.w_id)"),
    9: ("D_YTD = sum(H_AMOUNT) of the district's history",
        "SELECT count(*) FROM district d WHERE d.d_ytd <> (SELECT coalesce(sum(h_amount), 0) "
        "FROM history WHERE h_w_id = d.d_w_id AND h_d_id = d.d_id)"),
    10: ("C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT) per customer",
         "SELECT count(*) FROM customer c "
         "LEFT JOIN (SELECT o_w_id, o_d_id, o_c_id, sum(ol_amount) AS amount FROM orders "
         "JOIN order_line ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id "
         "WHERE ol_delivery_d IS NOT NULL GROUP BY 1, 2, 3) d "
         "ON d.o_w_id = c.c_w_id AND d.o_d_id = c.c_d_id AND d.o_c_id = c.c_id "
         "LEFT JOIN (SELECT h_c_w_id, h_c_d_id, h_c_id, sum(h_amount) AS paid FROM history GROUP BY 1, 2, 3) h "
         "ON h.h_c_w_id = c.c_w_id AND h.h_c_d_id = c.c_d_id AND h.h_c_id = c.c_id "
         "WHERE c.c_balance <> coalesce(d.amount, 0) - coalesce(h.paid, 0)"),
    12: ("C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT) per customer",
         "SELECT count(*) FROM customer c "
         "LEFT JOIN (SELECT o_w_id, o_d_id, o_c_id, sum(ol_amount) AS amount FROM orders "
         "JOIN order_line ON ol_w_id = o_w_id AND ol_d_id = o_d_id AND ol_o_id = o_id "
         "WHERE ol_delivery_d IS NOT NULL GROUP BY 1, 2, 3) d "
         "ON d.o_w_id = c.c_w_id AND d.o_d_id = c.c_d_id AND d.o_c_id = c.c_id "
         "WHERE c.c_balance + c.c_ytd_payment <> coalesce(d.amount, 0)"),
}


def check_consistency(conn: Any) -> dict[int, str]:
    """``{condition: "description: N violating rows"}`` for every violated condition."""
    violations: dict[int, str] = {}
    for number, (description, sql) in CONDITIONS.items():
        count = conn.execute(sql).fetchone()[0]
        if count:
            violations[number] = f"{description}: {count} violating rows"
    return violations
