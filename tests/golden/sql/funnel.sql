-- statement 1
SELECT DISTINCT
  "t0"."activity"
FROM "events" AS "t0"
WHERE
  NOT "t0"."activity" IS NULL;

-- statement 2
WITH "t15" AS (
  SELECT
    "t14"."journey_key",
    "t14"."customer_id",
    "t14"."event_ts",
    "t14"."event_date",
    "t14"."seq",
    "t14"."epoch",
    "t14"."m1",
    "t14"."m2",
    "t14"."m3",
    "t14"."m4",
    (
      ROW_NUMBER() OVER (
        PARTITION BY "t14"."journey_key"
        ORDER BY "t14"."event_ts" ASC, "t14"."seq" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) - 1
    ) + 1 AS "pos"
  FROM (
    SELECT
      *
    FROM (
      SELECT
        "t4"."journey_key",
        "t4"."customer_id",
        "t4"."event_ts",
        "t4"."event_date",
        "t4"."seq",
        EPOCH(CAST(DATE_TRUNC('SECOND', "t4"."event_ts") AS TIMESTAMP)) + (
          (
            EXTRACT('MILLISECOND' FROM "t4"."event_ts") % 1000
          ) / 1000
        ) AS "epoch",
        "t4"."activity" = 'view_product' AS "m1",
        "t4"."activity" = 'view_cart' AS "m2",
        "t4"."activity" = 'checkout_start' AS "m3",
        "t4"."activity" = 'checkout_confirmed' AS "m4"
      FROM (
        SELECT
          "t0"."customer_id",
          "t0"."journey_id",
          "t0"."event_ts",
          "t0"."event_date",
          "t0"."activity",
          "t0"."touchpoint",
          "t0"."channel",
          "t0"."department",
          "t0"."device",
          "t0"."stage",
          "t0"."amount",
          "t0"."source",
          "t0"."seq",
          "t0"."attributes",
          "t0"."file_id",
          COALESCE("t0"."journey_id", "t0"."customer_id") AS "journey_key"
        FROM "events" AS "t0"
        WHERE
          "t0"."channel" IN ('app')
      ) AS "t4"
      SEMI JOIN (
        SELECT
          "t1"."customer_id"
        FROM "customers" AS "t1"
        WHERE
          "t1"."segment" IN ('Premium')
      ) AS "t5"
        ON "t4"."customer_id" = "t5"."customer_id"
      SEMI JOIN (
        SELECT
          "t7"."journey_key"
        FROM (
          SELECT
            "t6"."journey_key",
            MIN("t6"."event_date") AS "first_date"
          FROM (
            SELECT
              "t4"."customer_id",
              "t4"."journey_id",
              "t4"."event_ts",
              "t4"."event_date",
              "t4"."activity",
              "t4"."touchpoint",
              "t4"."channel",
              "t4"."department",
              "t4"."device",
              "t4"."stage",
              "t4"."amount",
              "t4"."source",
              "t4"."seq",
              "t4"."attributes",
              "t4"."file_id",
              "t4"."journey_key"
            FROM (
              SELECT
                "t0"."customer_id",
                "t0"."journey_id",
                "t0"."event_ts",
                "t0"."event_date",
                "t0"."activity",
                "t0"."touchpoint",
                "t0"."channel",
                "t0"."department",
                "t0"."device",
                "t0"."stage",
                "t0"."amount",
                "t0"."source",
                "t0"."seq",
                "t0"."attributes",
                "t0"."file_id",
                COALESCE("t0"."journey_id", "t0"."customer_id") AS "journey_key"
              FROM "events" AS "t0"
              WHERE
                "t0"."channel" IN ('app')
            ) AS "t4"
            SEMI JOIN (
              SELECT
                "t1"."customer_id"
              FROM "customers" AS "t1"
              WHERE
                "t1"."segment" IN ('Premium')
            ) AS "t5"
              ON "t4"."customer_id" = "t5"."customer_id"
          ) AS "t6"
          GROUP BY
            1
        ) AS "t7"
        WHERE
          TRUE
          AND "t7"."first_date" >= MAKE_DATE(2026, 1, 1)
          AND "t7"."first_date" <= MAKE_DATE(2026, 6, 30)
      ) AS "t9"
        ON "t4"."journey_key" = "t9"."journey_key"
      SEMI JOIN (
        SELECT
          "t10"."journey_key"
        FROM (
          SELECT
            "t4"."journey_key",
            "t4"."customer_id",
            "t4"."event_ts",
            "t4"."event_date",
            "t4"."seq",
            EPOCH(CAST(DATE_TRUNC('SECOND', "t4"."event_ts") AS TIMESTAMP)) + (
              (
                EXTRACT('MILLISECOND' FROM "t4"."event_ts") % 1000
              ) / 1000
            ) AS "epoch",
            "t4"."activity" = 'view_product' AS "m1",
            "t4"."activity" = 'view_cart' AS "m2",
            "t4"."activity" = 'checkout_start' AS "m3",
            "t4"."activity" = 'checkout_confirmed' AS "m4"
          FROM (
            SELECT
              "t0"."customer_id",
              "t0"."journey_id",
              "t0"."event_ts",
              "t0"."event_date",
              "t0"."activity",
              "t0"."touchpoint",
              "t0"."channel",
              "t0"."department",
              "t0"."device",
              "t0"."stage",
              "t0"."amount",
              "t0"."source",
              "t0"."seq",
              "t0"."attributes",
              "t0"."file_id",
              COALESCE("t0"."journey_id", "t0"."customer_id") AS "journey_key"
            FROM "events" AS "t0"
            WHERE
              "t0"."channel" IN ('app')
          ) AS "t4"
          SEMI JOIN (
            SELECT
              "t1"."customer_id"
            FROM "customers" AS "t1"
            WHERE
              "t1"."segment" IN ('Premium')
          ) AS "t5"
            ON "t4"."customer_id" = "t5"."customer_id"
          SEMI JOIN (
            SELECT
              "t7"."journey_key"
            FROM (
              SELECT
                "t6"."journey_key",
                MIN("t6"."event_date") AS "first_date"
              FROM (
                SELECT
                  "t4"."customer_id",
                  "t4"."journey_id",
                  "t4"."event_ts",
                  "t4"."event_date",
                  "t4"."activity",
                  "t4"."touchpoint",
                  "t4"."channel",
                  "t4"."department",
                  "t4"."device",
                  "t4"."stage",
                  "t4"."amount",
                  "t4"."source",
                  "t4"."seq",
                  "t4"."attributes",
                  "t4"."file_id",
                  "t4"."journey_key"
                FROM (
                  SELECT
                    "t0"."customer_id",
                    "t0"."journey_id",
                    "t0"."event_ts",
                    "t0"."event_date",
                    "t0"."activity",
                    "t0"."touchpoint",
                    "t0"."channel",
                    "t0"."department",
                    "t0"."device",
                    "t0"."stage",
                    "t0"."amount",
                    "t0"."source",
                    "t0"."seq",
                    "t0"."attributes",
                    "t0"."file_id",
                    COALESCE("t0"."journey_id", "t0"."customer_id") AS "journey_key"
                  FROM "events" AS "t0"
                  WHERE
                    "t0"."channel" IN ('app')
                ) AS "t4"
                SEMI JOIN (
                  SELECT
                    "t1"."customer_id"
                  FROM "customers" AS "t1"
                  WHERE
                    "t1"."segment" IN ('Premium')
                ) AS "t5"
                  ON "t4"."customer_id" = "t5"."customer_id"
              ) AS "t6"
              GROUP BY
                1
            ) AS "t7"
            WHERE
              TRUE
              AND "t7"."first_date" >= MAKE_DATE(2026, 1, 1)
              AND "t7"."first_date" <= MAKE_DATE(2026, 6, 30)
          ) AS "t9"
            ON "t4"."journey_key" = "t9"."journey_key"
        ) AS "t10"
        WHERE
          "t10"."m1" AND TRUE
      ) AS "t12"
        ON "t4"."journey_key" = "t12"."journey_key"
    ) AS "t13"
    WHERE
      "t13"."m1" OR "t13"."m2" OR "t13"."m3" OR "t13"."m4"
  ) AS "t14"
)
SELECT
  "t34"."group",
  COUNT(*) FILTER(WHERE
    TRUE) AS "n1",
  QUANTILE_CONT(CASE WHEN TRUE THEN "t34"."ts1" - "t34"."ts1" ELSE CAST(NULL AS DOUBLE) END, 0.5) AS "median1",
  QUANTILE_CONT(CASE WHEN TRUE THEN "t34"."ts1" - "t34"."ts1" ELSE CAST(NULL AS DOUBLE) END, 0.9) AS "p901",
  COUNT(*) FILTER(WHERE
    (
      NOT "t34"."pos2" IS NULL
    ) AND TRUE) AS "n2",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos2" IS NULL
      ) AND TRUE
      THEN "t34"."ts2" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.5
  ) AS "median2",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos2" IS NULL
      ) AND TRUE
      THEN "t34"."ts2" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.9
  ) AS "p902",
  COUNT(*) FILTER(WHERE
    (
      NOT "t34"."pos3" IS NULL
    )
    AND (
      (
        NOT "t34"."pos2" IS NULL
      ) AND TRUE
    )) AS "n3",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos3" IS NULL
      )
      AND (
        (
          NOT "t34"."pos2" IS NULL
        ) AND TRUE
      )
      THEN "t34"."ts3" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.5
  ) AS "median3",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos3" IS NULL
      )
      AND (
        (
          NOT "t34"."pos2" IS NULL
        ) AND TRUE
      )
      THEN "t34"."ts3" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.9
  ) AS "p903",
  COUNT(*) FILTER(WHERE
    (
      NOT "t34"."pos4" IS NULL
    )
    AND (
      (
        NOT "t34"."pos3" IS NULL
      )
      AND (
        (
          NOT "t34"."pos2" IS NULL
        ) AND TRUE
      )
    )) AS "n4",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos4" IS NULL
      )
      AND (
        (
          NOT "t34"."pos3" IS NULL
        )
        AND (
          (
            NOT "t34"."pos2" IS NULL
          ) AND TRUE
        )
      )
      THEN "t34"."ts4" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.5
  ) AS "median4",
  QUANTILE_CONT(
    CASE
      WHEN (
        NOT "t34"."pos4" IS NULL
      )
      AND (
        (
          NOT "t34"."pos3" IS NULL
        )
        AND (
          (
            NOT "t34"."pos2" IS NULL
          ) AND TRUE
        )
      )
      THEN "t34"."ts4" - "t34"."ts1"
      ELSE CAST(NULL AS DOUBLE)
    END,
    0.9
  ) AS "p904"
FROM (
  SELECT
    "t33"."journey_key",
    "t33"."end_pos",
    "t33"."group",
    "t33"."pos1",
    "t33"."ts1",
    "t33"."pos2",
    "t33"."ts2",
    "t33"."pos3",
    "t33"."ts3",
    MIN("t33"."c_pos") AS "pos4",
    MIN("t33"."c_ts") AS "ts4"
  FROM (
    SELECT
      "t32"."journey_key",
      "t32"."end_pos",
      "t32"."group",
      "t32"."pos1",
      "t32"."ts1",
      "t32"."pos2",
      "t32"."ts2",
      "t32"."pos3",
      "t32"."ts3",
      "t21"."c_key",
      "t21"."c_pos",
      "t21"."c_ts",
      "t21"."c_m4"
    FROM (
      SELECT
        "t30"."journey_key",
        "t30"."end_pos",
        "t30"."group",
        "t30"."pos1",
        "t30"."ts1",
        "t30"."pos2",
        "t30"."ts2",
        MIN("t30"."c_pos") AS "pos3",
        MIN("t30"."c_ts") AS "ts3"
      FROM (
        SELECT
          "t29"."journey_key",
          "t29"."end_pos",
          "t29"."group",
          "t29"."pos1",
          "t29"."ts1",
          "t29"."pos2",
          "t29"."ts2",
          "t22"."c_key",
          "t22"."c_pos",
          "t22"."c_ts",
          "t22"."c_m3"
        FROM (
          SELECT
            "t27"."journey_key",
            "t27"."end_pos",
            "t27"."group",
            "t27"."pos1",
            "t27"."ts1",
            MIN("t27"."c_pos") AS "pos2",
            MIN("t27"."c_ts") AS "ts2"
          FROM (
            SELECT
              "t26"."journey_key",
              "t26"."end_pos",
              "t26"."group",
              "t26"."pos1",
              "t26"."ts1",
              "t23"."c_key",
              "t23"."c_pos",
              "t23"."c_ts",
              "t23"."c_m2"
            FROM (
              SELECT
                "t24"."journey_key",
                "t24"."end_pos",
                '' AS "group",
                "t24"."pos" AS "pos1",
                "t24"."epoch" AS "ts1"
              FROM (
                SELECT
                  "t20"."journey_key",
                  MIN("t20"."pos") AS "pos",
                  MIN("t20"."epoch") AS "epoch",
                  2147483647 AS "end_pos"
                FROM (
                  SELECT
                    *
                  FROM "t15" AS "t16"
                  WHERE
                    "t16"."m1" AND TRUE
                ) AS "t20"
                GROUP BY
                  1
              ) AS "t24"
            ) AS "t26"
            LEFT OUTER JOIN (
              SELECT
                "t16"."journey_key" AS "c_key",
                "t16"."pos" AS "c_pos",
                "t16"."epoch" AS "c_ts",
                "t16"."m2" AS "c_m2"
              FROM "t15" AS "t16"
              WHERE
                "t16"."m2"
            ) AS "t23"
              ON "t26"."journey_key" = "t23"."c_key"
              AND "t23"."c_pos" > "t26"."pos1"
              AND "t23"."c_pos" < "t26"."end_pos"
              AND "t23"."c_ts" <= (
                "t26"."ts1" + 604800.0
              )
          ) AS "t27"
          GROUP BY
            1,
            2,
            3,
            4,
            5
        ) AS "t29"
        LEFT OUTER JOIN (
          SELECT
            "t16"."journey_key" AS "c_key",
            "t16"."pos" AS "c_pos",
            "t16"."epoch" AS "c_ts",
            "t16"."m3" AS "c_m3"
          FROM "t15" AS "t16"
          WHERE
            "t16"."m3"
        ) AS "t22"
          ON "t29"."journey_key" = "t22"."c_key"
          AND "t22"."c_pos" > "t29"."pos2"
          AND "t22"."c_pos" < "t29"."end_pos"
          AND "t22"."c_ts" <= (
            "t29"."ts1" + 604800.0
          )
      ) AS "t30"
      GROUP BY
        1,
        2,
        3,
        4,
        5,
        6,
        7
    ) AS "t32"
    LEFT OUTER JOIN (
      SELECT
        "t16"."journey_key" AS "c_key",
        "t16"."pos" AS "c_pos",
        "t16"."epoch" AS "c_ts",
        "t16"."m4" AS "c_m4"
      FROM "t15" AS "t16"
      WHERE
        "t16"."m4"
    ) AS "t21"
      ON "t32"."journey_key" = "t21"."c_key"
      AND "t21"."c_pos" > "t32"."pos3"
      AND "t21"."c_pos" < "t32"."end_pos"
      AND "t21"."c_ts" <= (
        "t32"."ts1" + 604800.0
      )
  ) AS "t33"
  GROUP BY
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9
) AS "t34"
GROUP BY
  1;
