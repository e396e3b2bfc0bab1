-- Returns: the replacements that ACME clients declared (ARI): for each replaced serial, the
--   serial of the certificate issued for the order that named it (replaced_serial,
--   replacement_serial, order_id). Orders that issued nothing are left out.
-- Params: serials[]
-- Uses: replacementOrders serial_idx (serial), the orders primary key (id).
SELECT ro.serial AS replaced_serial,
       o.certificateSerial AS replacement_serial,
       o.id AS order_id
FROM replacementOrders AS ro
JOIN orders AS o ON o.id = ro.orderID
WHERE ro.serial IN :serials
  AND o.certificateSerial IS NOT NULL
